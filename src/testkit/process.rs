//! The real binary as a test's child process: start it on a free
//! 127.0.0.1 port and wait until it is ready, talk HTTP/1.1 to it, send it
//! signals, wait for its exit with a time limit and read what it wrote to
//! stderr. One harness for every black-box test that needs the process
//! (signals, exit codes, kill -9), so none re-implements spawn/kill/GET.
//!
//! The binary's path comes from the test: `env!("CARGO_BIN_EXE_pricepool")`
//! exists only in integration tests. Everything is blocking (std), so it
//! works from plain `#[test]`s as well as from inside a runtime's
//! `spawn_blocking`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long [`Process::serve`] waits for `/readyz` before it fails the test.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How long one HTTP exchange may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(20);

/// The command a test runs the binary with: `args`, warn-level logs and no
/// API token inherited from the developer's shell, stdin and stdout closed,
/// stderr piped (read it with [`Process::stderr_lines`]; a child told to
/// log a lot must have it read or closed, or it blocks once the pipe is
/// full). Adjust it before
/// [`Process::spawn`] (e.g. `env_remove`) or run it directly (`status()`).
pub fn command(binary: &str, args: &[&str]) -> Command {
    let mut command = Command::new(binary);
    command
        .args(args)
        .env_remove("PRICEPOOL_API_TOKEN")
        .env("PRICEPOOL_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// A port on 127.0.0.1 that was free a moment ago (bound, then released).
pub fn free_port() -> u16 {
    let probe = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    probe.local_addr().expect("local address").port()
}

/// A child process of the test. Dropping it kills and reaps a child that
/// is still running, so a failing test leaves no service behind.
#[derive(Debug)]
pub struct Process {
    child: Child,
    port: Option<u16>,
}

impl Process {
    /// Starts `command` without waiting for anything.
    pub fn spawn(mut command: Command) -> Process {
        let child = command.spawn().expect("spawn the binary");
        Process { child, port: None }
    }

    /// Starts `binary --listen 127.0.0.1:{free port} args…` and waits until
    /// `/readyz` answers 200. A child that exits first, or is not ready
    /// within 30 s, fails the test with its exit status and stderr.
    pub fn serve(binary: &str, args: &[&str]) -> Process {
        Process::serve_command(command(binary, args))
    }

    /// [`Process::serve`] for a [`command`] the test adjusted first (e.g.
    /// stderr inherited rather than piped): appends
    /// `--listen 127.0.0.1:{free port}` and waits for `/readyz` likewise.
    pub fn serve_command(mut command: Command) -> Process {
        let port = free_port();
        command.args(["--listen", &format!("127.0.0.1:{port}")]);
        let mut process = Process::spawn(command);
        process.port = Some(port);
        process.wait_ready();
        process
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_WITHIN;
        // Backing off keeps the probes' request logs well below what the
        // unread stderr pipe holds, even at `--log info`.
        let mut pause = Duration::from_millis(5);
        loop {
            if self.get("/readyz").is_ok_and(|answer| answer.status == 200) {
                return;
            }
            if let Some(status) = self.try_wait() {
                panic!(
                    "the service exited ({status}) before it was ready: {}",
                    self.stderr()
                );
            }
            if Instant::now() > deadline {
                self.kill();
                panic!(
                    "the service was not ready within {READY_WITHIN:?}: {}",
                    self.stderr()
                );
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// The port a served process listens on.
    pub fn port(&self) -> u16 {
        self.port.expect("a process started with Process::serve")
    }

    /// `127.0.0.1:{port}`, for flags such as `healthcheck --listen`.
    pub fn listen(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    /// The process id, for signals the harness does not send itself.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// GET `path_and_query`; an error when the service cannot be reached.
    pub fn get(&self, path_and_query: &str) -> std::io::Result<Answer> {
        http(self.port(), "GET", path_and_query, None)
    }

    /// POST `body` (as JSON) to `path_and_query`.
    pub fn post(&self, path_and_query: &str, body: &str) -> std::io::Result<Answer> {
        http(self.port(), "POST", path_and_query, Some(body))
    }

    /// Sends SIGTERM (through `kill(1)`, so no libc is needed).
    pub fn sigterm(&self) {
        self.signal("TERM");
    }

    /// Sends the signal named `name` (`TERM`, `HUP`, …) through `kill(1)`.
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill(1)");
        assert!(sent.success(), "kill -{name} {} failed", self.child.id());
    }

    /// SIGKILL, then reaps the child (an exited child is left as it is).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the exit; kills the child and fails the test if it is
    /// still running after `limit`.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        self.exited_within(limit).unwrap_or_else(|| {
            self.kill();
            panic!("the process did not exit within {limit:?}")
        })
    }

    /// Waits up to `limit` for the exit; `None` (the child left running,
    /// killed on drop) lets the test fail with its own message.
    pub fn exited_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The current resident set size (`VmRSS`), in KiB (Linux).
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS")
    }

    /// The peak resident set size so far (`VmHWM`), in KiB (Linux): what a
    /// test bounding the memory a hostile input costs asserts on.
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM")
    }

    /// A `kB` field of `/proc/{pid}/status`; fails the test when the child
    /// is gone or the field is missing.
    fn status_kib(&self, field: &str) -> u64 {
        let path = format!("/proc/{}/status", self.child.id());
        let status =
            std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("read {path}: {error}"));
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in {path}"))
    }

    /// The exit status if the child has exited, without waiting.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("poll the child")
    }

    /// Closes the test's end of the stderr pipe: the child's next log
    /// writes fail as they would when its log collector went away.
    pub fn close_stderr(&mut self) {
        drop(self.child.stderr.take());
    }

    /// The non-empty lines the child wrote to stderr. Reads until the child
    /// closes it, so call it after [`Process::wait`] (or on a child that
    /// exits by itself).
    pub fn stderr_lines(&mut self) -> Vec<String> {
        self.stderr()
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Everything the child wrote to stderr (read until it closes it, see
    /// [`Process::stderr_lines`]); empty once read or closed.
    pub fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(stderr) = self.child.stderr.as_mut() {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// One HTTP answer: status, headers (names lower-cased) and the body
/// (chunked transfer decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Header name (lower case) and value, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl Answer {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }
}

/// One HTTP/1.1 exchange with `127.0.0.1:{port}` on a fresh connection.
pub fn http(
    port: u16,
    method: &str,
    path_and_query: &str,
    body: Option<&str>,
) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
    write!(
        stream,
        "{method} {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    )?;
    match body {
        Some(body) => write!(
            stream,
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?,
        None => write!(stream, "\r\n")?,
    }
    read_answer(BufReader::new(stream))
}

/// Reads one HTTP/1.1 answer from `reader`: a body of `Content-Length`
/// bytes, chunked, or (neither) up to the end of the stream. With a
/// length or chunks it stops at the answer's end, so a test can read
/// answers one by one off a kept-alive raw connection
/// (`read_answer(BufReader::new(&mut stream))` per answer).
pub fn read_answer(mut reader: impl BufRead) -> std::io::Result<Answer> {
    let invalid = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("no HTTP status line"))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let chunked = headers
        .iter()
        .any(|(name, value)| name == "transfer-encoding" && value.contains("chunked"));
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .map(|(_, value)| value.parse::<usize>())
        .transpose()
        .map_err(|_| invalid("the Content-Length is not a number"))?;
    let mut raw = Vec::new();
    match (chunked, length) {
        (true, _) => read_chunks(&mut reader, &mut raw)?,
        (false, Some(length)) => {
            raw.resize(length, 0);
            reader.read_exact(&mut raw)?;
        }
        (false, None) => {
            reader.read_to_end(&mut raw)?;
        }
    }
    let body = String::from_utf8(raw).map_err(|_| invalid("the body is not UTF-8"))?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn read_chunks(reader: &mut impl BufRead, into: &mut Vec<u8>) -> std::io::Result<()> {
    let mut size_line = String::new();
    loop {
        size_line.clear();
        reader.read_line(&mut size_line)?;
        let hex = size_line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(hex, 16)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "chunk size"))?;
        if size == 0 {
            return Ok(());
        }
        let start = into.len();
        into.resize(start + size, 0);
        reader.read_exact(&mut into[start..])?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_and_plain_bodies_are_read_whole() {
        let chunked = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                       Transfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        let answer = read_answer(chunked.as_bytes()).unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("Content-Type"), Some("application/json"));
        assert_eq!(answer.body, "{\"a\":1}");
        let plain = "HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\nno";
        let answer = read_answer(plain.as_bytes()).unwrap();
        assert_eq!((answer.status, answer.body.as_str()), (404, "no"));
        assert!(read_answer("garbage".as_bytes()).is_err());
    }

    #[test]
    fn answers_on_a_kept_alive_connection_are_read_one_by_one() {
        let two = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 503 x\r\n\
                   content-length: 4\r\n\r\nbusy";
        let mut reader = two.as_bytes();
        let first = read_answer(&mut reader).unwrap();
        assert_eq!((first.status, first.body.as_str()), (200, "ok"));
        let second = read_answer(&mut reader).unwrap();
        assert_eq!((second.status, second.body.as_str()), (503, "busy"));
        let cut = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nok";
        assert!(read_answer(cut.as_bytes()).is_err());
    }
}
