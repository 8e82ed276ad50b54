//! Kafka SASL from the client side, against the protocol exchange a broker
//! runs: no Kafka broker that checks SCRAM can run on this machine (the
//! prebuilt `tansu` keeps its users in memory, where only an authenticated
//! client could create them), so this test is the broker's side of the
//! login. A fake broker answers ApiVersions, SaslHandshake and
//! SaslAuthenticate as Kafka does, and verifies the client's SCRAM proof
//! (RFC 5802/7677) or PLAIN credentials against its own user; the topic's
//! `mechanism`, `user-name` and `password` must get Herald's Kafka endpoint
//! through it, and a wrong password must not.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use herald_endpoints::{EndpointOptions, build};
use hmac::{KeyInit, Mac};
use sha2::Digest;

const API_VERSIONS: i16 = 18;
const SASL_HANDSHAKE: i16 = 17;
const SASL_AUTHENTICATE: i16 = 36;
const ITERATIONS: u32 = 4096;

/// What the fake broker concluded about each login.
type Verdicts = Arc<Mutex<Vec<String>>>;

/// A broker that knows one user; answers logins on a free port.
fn fake_broker(user: &'static str, password: &'static str) -> (u16, Verdicts) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let verdicts = Verdicts::default();
    let seen = verdicts.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(stream) = conn else { continue };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let _ = serve(stream, user, password, &seen);
            });
        }
    });
    (port, verdicts)
}

/// One request: (api key, api version, correlation id, body after the
/// request header).
fn read_request(s: &mut TcpStream) -> std::io::Result<(i16, i16, i32, Vec<u8>)> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let mut frame = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut frame)?;
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    // Header v1: a nullable client id (i16 length) follows.
    let id_len = i16::from_be_bytes([frame[8], frame[9]]).max(0) as usize;
    Ok((key, version, correlation, frame[10 + id_len..].to_vec()))
}

fn respond(s: &mut TcpStream, correlation: i32, body: &[u8]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&(4 + body.len() as i32).to_be_bytes());
    out.extend_from_slice(&correlation.to_be_bytes());
    out.extend_from_slice(body);
    s.write_all(&out)
}

fn serve(mut s: TcpStream, user: &str, password: &str, verdicts: &Mutex<Vec<String>>) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut mechanism = String::new();
    let mut scram: Option<ScramServer> = None;
    loop {
        let (key, version, correlation, body) = read_request(&mut s)?;
        match key {
            // Only version 0 is spoken: newer ones get UNSUPPORTED_VERSION
            // (35), and the client steps down, as against an old broker.
            API_VERSIONS if version > 0 => respond(&mut s, correlation, &[0, 35, 0, 0, 0, 0, 0, 0, 0, 0])?,
            API_VERSIONS => {
                let mut b = vec![0, 0];
                let apis: [(i16, i16, i16); 3] =
                    [(API_VERSIONS, 0, 0), (SASL_HANDSHAKE, 1, 1), (SASL_AUTHENTICATE, 0, 0)];
                b.extend_from_slice(&(apis.len() as i32).to_be_bytes());
                for (k, min, max) in apis {
                    for v in [k, min, max] {
                        b.extend_from_slice(&v.to_be_bytes());
                    }
                }
                respond(&mut s, correlation, &b)?;
            }
            SASL_HANDSHAKE => {
                let len = i16::from_be_bytes([body[0], body[1]]) as usize;
                mechanism = String::from_utf8_lossy(&body[2..2 + len]).into_owned();
                let mut b = vec![0, 0];
                let offered = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];
                b.extend_from_slice(&(offered.len() as i32).to_be_bytes());
                for m in offered {
                    b.extend_from_slice(&(m.len() as i16).to_be_bytes());
                    b.extend_from_slice(m.as_bytes());
                }
                respond(&mut s, correlation, &b)?;
            }
            SASL_AUTHENTICATE => {
                let len = i32::from_be_bytes([body[0], body[1], body[2], body[3]]) as usize;
                let auth = String::from_utf8_lossy(&body[4..4 + len]).into_owned();
                let step = match mechanism.as_str() {
                    "PLAIN" => {
                        let ok = auth == format!("\0{user}\0{password}");
                        Step::Done(ok, String::new())
                    }
                    m => {
                        let server = scram.get_or_insert_with(|| ScramServer::new(m, password));
                        server.step(user, &auth)
                    }
                };
                match step {
                    Step::Continue(reply) => respond(&mut s, correlation, &sasl_reply(0, &reply))?,
                    Step::Done(true, reply) => {
                        verdicts.lock().unwrap().push(format!("{mechanism} ok"));
                        respond(&mut s, correlation, &sasl_reply(0, &reply))?;
                    }
                    Step::Done(false, _) => {
                        verdicts.lock().unwrap().push(format!("{mechanism} refused"));
                        // SASL_AUTHENTICATION_FAILED (58), then hang up.
                        respond(&mut s, correlation, &sasl_reply(58, ""))?;
                        return Ok(());
                    }
                }
            }
            // Past the login this broker has nothing to offer.
            _ => return Ok(()),
        }
    }
}

/// A SaslAuthenticate v0 response body.
fn sasl_reply(error: i16, auth: &str) -> Vec<u8> {
    let mut b = error.to_be_bytes().to_vec();
    b.extend_from_slice(&(-1i16).to_be_bytes()); // no error message
    b.extend_from_slice(&(auth.len() as i32).to_be_bytes());
    b.extend_from_slice(auth.as_bytes());
    b
}

enum Step {
    Continue(String),
    /// Whether the client proved it knows the password, and the final reply.
    Done(bool, String),
}

/// The server side of SCRAM-SHA-256/512 (RFC 5802).
struct ScramServer {
    sha512: bool,
    password: String,
    salt: Vec<u8>,
    /// client-first-bare "," server-first, once sent.
    first: Option<(String, String)>,
}

impl ScramServer {
    fn new(mechanism: &str, password: &str) -> ScramServer {
        ScramServer {
            sha512: mechanism == "SCRAM-SHA-512",
            password: password.to_owned(),
            salt: b"herald-test-salt".to_vec(),
            first: None,
        }
    }

    fn hmac(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
        if self.sha512 {
            let mut m = hmac::Hmac::<sha2::Sha512>::new_from_slice(key).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        } else {
            let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
    }

    fn hash(&self, data: &[u8]) -> Vec<u8> {
        if self.sha512 {
            sha2::Sha512::digest(data).to_vec()
        } else {
            sha2::Sha256::digest(data).to_vec()
        }
    }

    /// PBKDF2 with one output block (the hash's length), as SCRAM uses it.
    fn salted_password(&self) -> Vec<u8> {
        let mut block = self.salt.clone();
        block.extend_from_slice(&1u32.to_be_bytes());
        let mut u = self.hmac(self.password.as_bytes(), &block);
        let mut out = u.clone();
        for _ in 1..ITERATIONS {
            u = self.hmac(self.password.as_bytes(), &u);
            out.iter_mut().zip(&u).for_each(|(o, x)| *o ^= x);
        }
        out
    }

    fn step(&mut self, user: &str, message: &str) -> Step {
        match self.first.take() {
            None => {
                // client-first: "n,,n=<user>,r=<client nonce>"
                let bare = message.strip_prefix("n,,").unwrap_or(message).to_owned();
                let name = attr(&bare, 'n').unwrap_or_default();
                let nonce = attr(&bare, 'r').unwrap_or_default();
                if name != user || nonce.is_empty() {
                    return Step::Done(false, String::new());
                }
                let server_first = format!("r={nonce}srvnonce42,s={},i={ITERATIONS}", B64.encode(&self.salt));
                self.first = Some((bare, server_first.clone()));
                Step::Continue(server_first)
            }
            Some((client_first_bare, server_first)) => {
                // client-final: "c=biws,r=<nonce>,p=<proof>"
                let Some((without_proof, proof)) = message.rsplit_once(",p=") else {
                    return Step::Done(false, String::new());
                };
                let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
                let salted = self.salted_password();
                let client_key = self.hmac(&salted, b"Client Key");
                let stored_key = self.hash(&client_key);
                let signature = self.hmac(&stored_key, auth_message.as_bytes());
                let expected: Vec<u8> = client_key.iter().zip(&signature).map(|(k, s)| k ^ s).collect();
                let ok = B64.decode(proof).is_ok_and(|p| p == expected);
                let server_key = self.hmac(&salted, b"Server Key");
                let verifier = B64.encode(self.hmac(&server_key, auth_message.as_bytes()));
                Step::Done(ok, format!("v={verifier}"))
            }
        }
    }
}

/// The value of `<name>=` in a SCRAM message.
fn attr(message: &str, name: char) -> Option<String> {
    message
        .split(',')
        .find_map(|part| part.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

fn options(attrs: &[(&str, &str)]) -> EndpointOptions {
    let attrs: BTreeMap<String, String> = attrs
        .iter()
        .chain([("push-timeout", "3")].iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    EndpointOptions::from_attributes(&attrs, "arn:aws:sns:us-east-1:u:events").unwrap()
}

/// Pushes once through a fresh endpoint (the push itself fails after the
/// login: this broker has no topics) and returns the broker's verdicts.
async fn login(mechanism: &str, password: &str, in_uri: bool) -> Vec<String> {
    let (port, verdicts) = fake_broker("alice", "s3cr3t-pw");
    let (uri, attrs) = if in_uri {
        (
            format!("kafka://alice:{password}@127.0.0.1:{port}"),
            vec![("mechanism", mechanism)],
        )
    } else {
        (
            format!("kafka://127.0.0.1:{port}"),
            vec![("mechanism", mechanism), ("user-name", "alice"), ("password", password)],
        )
    };
    let endpoint = build(&uri, options(&attrs)).unwrap();
    let _ = endpoint.push(&Bytes::from_static(b"{}")).await;
    verdicts.lock().unwrap().clone()
}

#[tokio::test]
async fn scram_and_plain_logins_prove_the_topics_credentials() {
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] {
        let ok = login(mechanism, "s3cr3t-pw", false).await;
        assert!(ok.contains(&format!("{mechanism} ok")), "{mechanism}: {ok:?}");
        let wrong = login(mechanism, "not-the-pw", false).await;
        assert!(
            wrong.contains(&format!("{mechanism} refused")) && !wrong.iter().any(|v| v.ends_with(" ok")),
            "{mechanism} with a wrong password: {wrong:?}"
        );
    }
    // Credentials in the URI log in the same way.
    let ok = login("SCRAM-SHA-512", "s3cr3t-pw", true).await;
    assert!(ok.contains(&"SCRAM-SHA-512 ok".to_owned()), "{ok:?}");
}
