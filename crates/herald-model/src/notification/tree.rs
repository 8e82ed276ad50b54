//! The bounded XML reader the parser walks: a small element
//! tree with caps on depth, element count and text length, so a hostile
//! body is refused before the configuration checks walk it.

use std::borrow::Cow;
use std::fmt;

use quick_xml::Reader;
use quick_xml::events::Event;

use super::{ConfigError, MAX_XML_DEPTH, MAX_XML_ELEMENTS, MAX_XML_TEXT_BYTES, malformed};

/// A minimal element tree: the configuration is small, and walking a tree
/// makes "missing", "duplicate" and "unexpected" element checks simple.
#[derive(Debug, Default)]
pub(super) struct Node {
    /// Local name (namespace prefixes dropped: the AWS SDKs never send
    /// them, but a prefixed document is still the same document).
    pub(super) name: String,
    pub(super) children: Vec<Node>,
    pub(super) text: String,
}

impl Node {
    pub(super) fn children_named<'s, 'n>(&'s self, name: &'n str) -> impl Iterator<Item = &'s Node> + use<'s, 'n> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of a leaf child that may appear at most once.
    pub(super) fn opt_leaf<'s>(&'s self, name: &str) -> Result<Option<&'s str>, ConfigError> {
        let mut it = self.children_named(name);
        let first = it.next();
        if it.next().is_some() {
            return Err(malformed(format!("<{name}> appears more than once in <{}>", self.name)));
        }
        first.map(|n| n.leaf_text()).transpose()
    }

    pub(super) fn leaf_text(&self) -> Result<&str, ConfigError> {
        if !self.children.is_empty() {
            return Err(malformed(format!("<{}> must contain only text", self.name)));
        }
        Ok(&self.text)
    }
}

pub(super) fn parse_tree(xml: &[u8]) -> Result<Node, ConfigError> {
    let text = std::str::from_utf8(xml).map_err(|_| malformed("body is not UTF-8"))?;
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let xml_err = |e: &dyn fmt::Display| malformed(format!("not well-formed XML: {e}"));

    fn attach(stack: &mut [Node], root: &mut Option<Node>, node: Node) -> Result<(), ConfigError> {
        if let Some(parent) = stack.last_mut() {
            parent.children.push(node);
        } else if root.is_none() {
            *root = Some(node);
        } else {
            return Err(malformed("more than one root element"));
        }
        Ok(())
    }
    fn push_text(stack: &mut [Node], s: &str) -> Result<(), ConfigError> {
        match stack.last_mut() {
            Some(top) if top.text.len() + s.len() > MAX_XML_TEXT_BYTES => {
                return Err(malformed(format!(
                    "the text of <{}> is longer than {MAX_XML_TEXT_BYTES} bytes",
                    top.name
                )));
            }
            Some(top) => top.text.push_str(s),
            None if s.trim().is_empty() => {}
            None => return Err(malformed("text outside the root element")),
        }
        Ok(())
    }
    fn local_name(raw: &[u8]) -> Result<String, ConfigError> {
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| malformed("element name is not UTF-8"))
    }

    let mut elements = 0usize;
    let mut count_element = || {
        elements += 1;
        if elements > MAX_XML_ELEMENTS {
            return Err(malformed(format!("more than {MAX_XML_ELEMENTS} elements")));
        }
        Ok(())
    };
    loop {
        match reader.read_event().map_err(|e| xml_err(&e))? {
            Event::Start(s) => {
                count_element()?;
                if root.is_some() && stack.is_empty() {
                    return Err(malformed("more than one root element"));
                }
                if stack.len() >= MAX_XML_DEPTH {
                    return Err(malformed("elements nested too deeply"));
                }
                stack.push(Node {
                    name: local_name(s.local_name().as_ref())?,
                    ..Node::default()
                });
            }
            Event::Empty(s) => {
                count_element()?;
                let node = Node {
                    name: local_name(s.local_name().as_ref())?,
                    ..Node::default()
                };
                attach(&mut stack, &mut root, node)?;
            }
            Event::End(_) => {
                // quick-xml has already checked the name matches.
                let node = stack.pop().ok_or_else(|| malformed("unbalanced end tag"))?;
                attach(&mut stack, &mut root, node)?;
            }
            Event::Text(t) => {
                let s = t.xml10_content().map_err(|e| xml_err(&e))?;
                push_text(&mut stack, &s)?;
            }
            Event::CData(c) => {
                let s = c.decode().map_err(|e| xml_err(&e))?;
                push_text(&mut stack, &s)?;
            }
            Event::GeneralRef(r) => {
                let resolved: Cow<'_, str> = match r.resolve_char_ref().map_err(|e| xml_err(&e))? {
                    Some(ch) => Cow::Owned(ch.to_string()),
                    None => {
                        let name = r.decode().map_err(|e| xml_err(&e))?;
                        let s = quick_xml::escape::resolve_xml_entity(&name)
                            .ok_or_else(|| malformed(format!("unknown entity &{name};")))?;
                        Cow::Borrowed(s)
                    }
                };
                push_text(&mut stack, &resolved)?;
            }
            // A DTD could declare entities; S3 bodies never carry one.
            Event::DocType(_) => return Err(malformed("DOCTYPE is not allowed")),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(malformed("unexpected end of document"));
    }
    root.ok_or_else(|| malformed("empty document"))
}
