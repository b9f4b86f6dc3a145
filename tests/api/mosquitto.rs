//! A real Mosquitto (Debian's `mosquitto` package, installed by `.ci/run`
//! when missing) on a free loopback port, and a test client that records
//! every message it receives on the topics it subscribed to.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// A running broker; killed (SIGKILL) when dropped.
pub struct Mosquitto {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Mosquitto {
    /// Anonymous clients allowed.
    pub fn start() -> Mosquitto {
        Mosquitto::start_with(None)
    }

    /// Only `user` with `password` may connect.
    pub fn start_with_password(user: &str, password: &str) -> Mosquitto {
        Mosquitto::start_with(Some((user, password)))
    }

    fn start_with(credentials: Option<(&str, &str)>) -> Mosquitto {
        assert!(
            std::path::Path::new(MOSQUITTO).exists(),
            "{MOSQUITTO} is missing: apt-get install -y mosquitto (.ci/run does)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let port = pricepool::testkit::process::free_port();
        let mut config = format!("listener {port} 127.0.0.1\npersistence false\n");
        // As root, mosquitto would switch to its own user, which cannot
        // read our temp dir.
        if running_as_root() {
            config.push_str("user root\n");
        }
        match credentials {
            None => config.push_str("allow_anonymous true\n"),
            Some((user, password)) => {
                let file = dir.path().join("passwords");
                std::fs::write(&file, "").expect("password file");
                let made = Command::new("mosquitto_passwd")
                    .args(["-b", file.to_str().unwrap(), user, password])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .expect("run mosquitto_passwd");
                assert!(made.success(), "mosquitto_passwd failed");
                config.push_str(&format!(
                    "allow_anonymous false\npassword_file {}\n",
                    file.display()
                ));
            }
        }
        std::fs::write(dir.path().join("mosquitto.conf"), config).expect("config");
        let mut broker = Mosquitto {
            port,
            dir,
            child: None,
        };
        broker.restart();
        broker
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.conf")
    }

    /// `mqtt://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Kills the broker (SIGKILL): connections drop, retained messages are lost.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker (again) on the same port and waits until it accepts.
    pub fn restart(&mut self) {
        self.kill();
        let log = std::fs::File::create(self.dir.path().join("mosquitto.log")).expect("log");
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the broker logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One message as the test client received it.
#[derive(Debug, Clone)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

impl Message {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {}", self.topic, self.text()))
    }
}

/// A subscriber that records every message; dropped, it stops.
pub struct Subscriber {
    pub client: AsyncClient,
    received: Arc<Mutex<Vec<Message>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    /// Connects anonymously to `port` and subscribes to `filters`.
    pub async fn connect(port: u16, filters: &[&str]) -> Subscriber {
        Subscriber::connect_as(port, None, filters).await
    }

    /// Connects with `credentials` when given.
    pub async fn connect_as(
        port: u16,
        credentials: Option<(&str, &str)>,
        filters: &[&str],
    ) -> Subscriber {
        let id = format!("test-{:08x}", rand::random::<u32>());
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_max_packet_size(64 * 1024, 64 * 1024);
        if let Some((user, password)) = credentials {
            options.set_credentials(user, password);
        }
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        for filter in filters {
            client
                .subscribe(*filter, QoS::AtLeastOnce)
                .await
                .expect("queue subscribe");
        }
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&received);
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        sink.lock().unwrap().push(Message {
                            topic: publish.topic.clone(),
                            payload: publish.payload.to_vec(),
                            retain: publish.retain,
                        });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Subscriber {
            client,
            received,
            task,
        }
    }

    /// Everything received so far.
    pub fn messages(&self) -> Vec<Message> {
        self.received.lock().unwrap().clone()
    }

    /// The latest message on `topic`, if any.
    pub fn last(&self, topic: &str) -> Option<Message> {
        self.messages().into_iter().rev().find(|m| m.topic == topic)
    }

    /// Waits up to `limit` for `found` to give Some over the messages.
    pub async fn wait_for<T>(
        &self,
        limit: Duration,
        what: &str,
        found: impl Fn(&[Message]) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(value) = found(&self.messages()) {
                return value;
            }
            if tokio::time::Instant::now() > deadline {
                let topics: Vec<String> = self
                    .messages()
                    .iter()
                    .map(|m| {
                        format!(
                            "{} = {}",
                            m.topic,
                            m.text().chars().take(80).collect::<String>()
                        )
                    })
                    .collect();
                panic!("waited {limit:?} for {what}; received: {topics:#?}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits for a message on `topic` that `accept` takes.
    pub async fn wait_on(
        &self,
        topic: &str,
        limit: Duration,
        accept: impl Fn(&Message) -> bool,
    ) -> Message {
        self.wait_for(limit, topic, |messages| {
            messages
                .iter()
                .rev()
                .find(|m| m.topic == topic && accept(m))
                .cloned()
        })
        .await
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}
