//! The SFTP requests of one session: reads are served from the store,
//! every write is refused with "permission denied".

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use herald_store::{BucketRecord, ObjectReader, Store, StoreError};
use russh_sftp::extensions::LIMITS;
use russh_sftp::protocol::{
    Attrs, Data, ExtendedReply, File, FileAttributes, Handle, Name, OpenFlags, Packet, Status, StatusCode, Version,
};
use russh_sftp::server::StatusReply;

use crate::access::Viewer;
use crate::tree::{self, Node};

/// Handles one session may hold open at once (OpenSSH uses a few).
const MAX_OPEN_HANDLES: usize = 64;
/// Largest request russh-sftp accepts from a client.
const MAX_PACKET: u64 = 256 * 1024;
/// Largest read answered at once; OpenSSH asks for 32 KiB or what the
/// server advertises, and copes with shorter answers.
const MAX_READ: u32 = 256 * 1024 - 1024;

/// An open handle.
enum Open {
    File(Arc<ObjectReader>),
    Dir(Box<Listing>),
}

/// A directory being read: entries ready to send, and where the store
/// listing goes on (`None` once it is exhausted).
struct Listing {
    ready: VecDeque<File>,
    more: Option<(BucketRecord, String, Option<String>)>,
}

/// The filesystem one logged-in user sees.
pub struct ReadOnlyFs {
    store: Store,
    viewer: Viewer,
    /// The root listing and when it was made: `/` costs an access decision
    /// per bucket of the store, so a session reuses it for a few seconds.
    root: Option<(std::time::Instant, Vec<File>)>,
    user: String,
    handles: HashMap<String, Open>,
    next_handle: u64,
}

impl ReadOnlyFs {
    pub fn new(store: Store, viewer: Viewer) -> ReadOnlyFs {
        ReadOnlyFs {
            store,
            user: viewer.user.clone(),
            viewer,
            root: None,
            handles: HashMap::new(),
            next_handle: 0,
        }
    }

    fn add_handle(&mut self, open: Open) -> Result<String, StatusReply> {
        if self.handles.len() >= MAX_OPEN_HANDLES {
            return Err(StatusCode::Failure.with_message("too many open files or directories"));
        }
        self.next_handle += 1;
        let name = self.next_handle.to_string();
        self.handles.insert(name.clone(), open);
        Ok(name)
    }

    fn stat_path(&self, id: u32, path: &str) -> Result<Attrs, StatusReply> {
        let node = tree::resolve(&self.store, &self.viewer, path)?;
        Ok(Attrs {
            id,
            attrs: tree::attrs(&node, &self.user),
        })
    }
}

/// How long a session reuses its root listing.
const ROOT_LISTING_TTL: std::time::Duration = std::time::Duration::from_secs(5);

impl ReadOnlyFs {
    fn root_listing(&mut self) -> Result<Vec<File>, StatusReply> {
        if let Some((at, files)) = &self.root
            && at.elapsed() < ROOT_LISTING_TTL
        {
            return Ok(files.clone());
        }
        let files = tree::list_buckets(&self.store, &self.viewer)?;
        self.root = Some((std::time::Instant::now(), files.clone()));
        Ok(files)
    }
}

fn read_only() -> StatusReply {
    StatusCode::PermissionDenied.with_message("read-only: Herald's SFTP service cannot change files")
}

fn bad_handle() -> StatusReply {
    StatusCode::Failure.with_message("invalid handle")
}

fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".into(),
        language_tag: "en-US".into(),
    }
}

impl russh_sftp::server::Handler for ReadOnlyFs {
    type Error = StatusReply;

    fn unimplemented(&self) -> Self::Error {
        StatusCode::OpUnsupported.into()
    }

    /// Advertises `limits@openssh.com`, which lets OpenSSH read up to
    /// [`MAX_READ`] per request instead of 32 KiB (fewer round trips).
    async fn init(&mut self, _version: u32, _extensions: HashMap<String, String>) -> Result<Version, Self::Error> {
        let mut version = Version::new();
        version.extensions.insert(LIMITS.to_owned(), "1".to_owned());
        Ok(version)
    }

    async fn extended(&mut self, id: u32, request: String, _data: Vec<u8>) -> Result<Packet, Self::Error> {
        if request != LIMITS {
            return Err(StatusCode::OpUnsupported.with_message(format!("{request} is not supported")));
        }
        // Four uint64: packet length, read length, write length, open handles.
        let mut data = Vec::with_capacity(32);
        for limit in [MAX_PACKET, MAX_READ as u64, 32 * 1024, MAX_OPEN_HANDLES as u64] {
            data.extend_from_slice(&limit.to_be_bytes());
        }
        Ok(Packet::ExtendedReply(ExtendedReply { id, data }))
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        Ok(Name {
            id,
            files: vec![File::dummy(tree::normalize(&path))],
        })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        self.stat_path(id, &path)
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        self.stat_path(id, &path)
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        match self.handles.get(&handle) {
            Some(Open::File(reader)) => Ok(Attrs {
                id,
                attrs: tree::file_attrs(reader.version(), &self.user),
            }),
            Some(Open::Dir(_)) => Ok(Attrs {
                id,
                attrs: tree::dir_attrs(0, &self.user),
            }),
            None => Err(bad_handle()),
        }
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        let listing = match tree::resolve(&self.store, &self.viewer, &path)? {
            Node::Root => Listing {
                ready: self.root_listing()?.into(),
                more: None,
            },
            Node::Dir { bucket, prefix } => Listing {
                ready: VecDeque::new(),
                more: Some((bucket, prefix, None)),
            },
            Node::File { .. } => {
                return Err(StatusCode::NoSuchFile.with_message(format!("{}: not a directory", tree::normalize(&path))));
            }
        };
        let handle = self.add_handle(Open::Dir(Box::new(listing)))?;
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        let Some(Open::Dir(listing)) = self.handles.get_mut(&handle) else {
            return Err(bad_handle());
        };
        // An empty answer would end the client's listing early, so pages
        // that hold only skipped names are passed over.
        while listing.ready.is_empty() {
            let Some((bucket, prefix, after)) = listing.more.take() else {
                return Err(StatusCode::Eof.into());
            };
            let (files, next) = tree::list_page(&self.store, &self.user, &bucket, &prefix, after)?;
            listing.ready.extend(files);
            listing.more = next.map(|n| (bucket, prefix, Some(n)));
        }
        let n = listing.ready.len().min(tree::ENTRIES_PER_READDIR);
        Ok(Name {
            id,
            files: listing.ready.drain(..n).collect(),
        })
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        _attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        if pflags.intersects(OpenFlags::WRITE | OpenFlags::APPEND | OpenFlags::CREATE | OpenFlags::TRUNCATE) {
            return Err(read_only());
        }
        let (bucket, key, version) = match tree::resolve(&self.store, &self.viewer, &filename)? {
            Node::File { bucket, key, version } => (bucket, key, version),
            _ => {
                return Err(StatusCode::Failure.with_message(format!("{}: is a directory", tree::normalize(&filename))));
            }
        };
        // The very version access was decided on (an overwrite since then
        // is a new decision: open the file again).
        let reader = match self
            .store
            .open_object_reader(&bucket, &key, Some(&version.version_id))
            .await
        {
            Ok(r) => r,
            Err(StoreError::NoSuchKey | StoreError::NoSuchVersion | StoreError::NoSuchBucket) => {
                return Err(tree::no_such_file(&filename));
            }
            Err(e) => return Err(tree::failure(e)),
        };
        let handle = self.add_handle(Open::File(Arc::new(reader)))?;
        Ok(Handle { id, handle })
    }

    async fn read(&mut self, id: u32, handle: String, offset: u64, len: u32) -> Result<Data, Self::Error> {
        let Some(Open::File(reader)) = self.handles.get(&handle) else {
            return Err(bad_handle());
        };
        if offset >= reader.version().size {
            return Err(StatusCode::Eof.into());
        }
        let reader = reader.clone();
        let len = len.min(MAX_READ) as usize;
        let data = tokio::task::spawn_blocking(move || reader.read_at(offset, len))
            .await
            .map_err(tree::failure)?
            .map_err(tree::failure)?;
        Ok(Data { id, data })
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        match self.handles.remove(&handle) {
            Some(_) => Ok(ok(id)),
            None => Err(bad_handle()),
        }
    }

    async fn write(&mut self, _id: u32, _handle: String, _offset: u64, _data: Vec<u8>) -> Result<Status, Self::Error> {
        Err(read_only())
    }

    async fn setstat(&mut self, _id: u32, _path: String, _attrs: FileAttributes) -> Result<Status, Self::Error> {
        Err(read_only())
    }

    async fn fsetstat(&mut self, _id: u32, _handle: String, _attrs: FileAttributes) -> Result<Status, Self::Error> {
        Err(read_only())
    }

    async fn remove(&mut self, _id: u32, _filename: String) -> Result<Status, Self::Error> {
        Err(read_only())
    }

    async fn mkdir(&mut self, _id: u32, _path: String, _attrs: FileAttributes) -> Result<Status, Self::Error> {
        Err(read_only())
    }

    async fn rmdir(&mut self, _id: u32, _path: String) -> Result<Status, Self::Error> {
        Err(read_only())
    }

    async fn rename(&mut self, _id: u32, _oldpath: String, _newpath: String) -> Result<Status, Self::Error> {
        Err(read_only())
    }

    async fn symlink(&mut self, _id: u32, _linkpath: String, _targetpath: String) -> Result<Status, Self::Error> {
        Err(read_only())
    }
}
