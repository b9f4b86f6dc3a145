//! Where the broker is and how to log in: `--mqtt-url
//! mqtt://[user:pass@]host[:port]` (or `mqtts://` for TLS), read into a
//! [`Broker`] whose user and password are never formatted.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{LastWill, MqttOptions, QoS, TlsConfiguration, Transport};

/// How long the broker may go without hearing from us before it publishes
/// the last will.
const KEEP_ALIVE: Duration = Duration::from_secs(30);

/// Largest packet either way: a prices message is under 16 KiB, a
/// discovery config under 2 KiB (rumqttc's default cap is 10 KiB).
const MAX_PACKET_BYTES: usize = 64 * 1024;

/// The `--mqtt-url` as given. Clap stores it unparsed (so a bad URL's
/// error cannot quote the password back); [`Broker::parse`] reads it at
/// start. Debug shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct MqttUrl(String);

impl MqttUrl {
    /// Clap's value parser: takes any text, checked later by [`Broker::parse`].
    pub fn from_arg(text: &str) -> Result<MqttUrl, std::convert::Infallible> {
        Ok(MqttUrl(text.to_string()))
    }
}

impl std::fmt::Debug for MqttUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MqttUrl([redacted])")
    }
}

/// Why `--mqtt-url` cannot be used; never quotes the URL (it may hold a password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// Not a URL at all.
    #[error("--mqtt-url is not a URL (write mqtt://[user:pass@]host:port)")]
    NotAUrl,
    /// A scheme other than `mqtt` or `mqtts`.
    #[error("--mqtt-url must start with mqtt:// or mqtts://")]
    Scheme,
    /// No host.
    #[error("--mqtt-url has no host")]
    NoHost,
    /// A path, query or fragment, which MQTT has no use for.
    #[error("--mqtt-url must not have a path, query or fragment")]
    Extra,
    /// A user or password that is not valid UTF-8 once percent-decoded.
    #[error("--mqtt-url's user or password is not UTF-8 once percent-decoded")]
    Credentials,
    /// The OS's root certificates could not be read for `mqtts://`.
    #[error("no root certificates for mqtts:// could be loaded from the system")]
    NoRoots,
}

/// A user name and password for the broker. Debug redacts both.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    user: String,
    password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials([redacted])")
    }
}

/// The broker to publish to, read from `--mqtt-url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    /// Host name or address.
    pub host: String,
    /// Port: given, or 1883 (`mqtt`) / 8883 (`mqtts`).
    pub port: u16,
    /// Whether to speak TLS (`mqtts://`).
    pub tls: bool,
    /// From the URL's user info, percent-decoded.
    pub credentials: Option<Credentials>,
}

impl Broker {
    /// Reads `url`; errors name what is wrong, never the URL.
    pub fn parse(url: &MqttUrl) -> Result<Broker, BrokerError> {
        let url = reqwest::Url::parse(url.0.trim()).map_err(|_| BrokerError::NotAUrl)?;
        let (tls, default_port) = match url.scheme() {
            "mqtt" => (false, 1883),
            "mqtts" => (true, 8883),
            _ => return Err(BrokerError::Scheme),
        };
        let host = url.host_str().filter(|h| !h.is_empty());
        let host = host.ok_or(BrokerError::NoHost)?;
        // A bracketed IPv6 literal is kept bracketed by the url crate.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(BrokerError::Extra);
        }
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(text)
                .decode_utf8()
                .map(|t| t.into_owned())
                .map_err(|_| BrokerError::Credentials)
        };
        let credentials = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            Some(Credentials {
                user: decode(url.username())?,
                password: decode(url.password().unwrap_or(""))?,
            })
        };
        Ok(Broker {
            host: host.to_string(),
            port: url.port().unwrap_or(default_port),
            tls,
            credentials,
        })
    }

    /// rumqttc's options for one connection attempt: a fresh client id,
    /// a clean session, `will` as the last will, TLS on rustls with ring
    /// and the OS roots when asked for.
    pub(super) fn options(
        &self,
        client_id: String,
        will: LastWill,
    ) -> Result<MqttOptions, BrokerError> {
        let mut options = MqttOptions::new(client_id, self.host.clone(), self.port);
        options
            .set_keep_alive(KEEP_ALIVE)
            .set_clean_session(true)
            .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
            .set_last_will(will);
        if let Some(credentials) = &self.credentials {
            options.set_credentials(credentials.user.clone(), credentials.password.clone());
        }
        if self.tls {
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                Arc::new(tls_config()?),
            )));
        }
        Ok(options)
    }
}

/// The last will: `topic` = `offline`, retained, at least once.
pub(super) fn offline_will(topic: &str) -> LastWill {
    LastWill::new(topic, super::OFFLINE, QoS::AtLeastOnce, true)
}

/// A TLS client configuration like reqwest's: ring, the OS's roots.
fn tls_config() -> Result<rustls::ClientConfig, BrokerError> {
    let mut roots = rustls::RootCertStore::empty();
    let loaded = rustls_native_certs::load_native_certs();
    let (n_added, _) = roots.add_parsable_certificates(loaded.certs);
    if n_added == 0 {
        return Err(BrokerError::NoRoots);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| BrokerError::NoRoots)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Broker, BrokerError> {
        Broker::parse(&MqttUrl::from_arg(text).unwrap())
    }

    #[test]
    fn a_url_gives_host_port_and_decoded_credentials() {
        let broker = parse("mqtt://ha%40home:s3cr%2Ft@broker.lan:1884").unwrap();
        assert_eq!(
            (broker.host.as_str(), broker.port, broker.tls),
            ("broker.lan", 1884, false)
        );
        let credentials = broker.credentials.unwrap();
        assert_eq!(
            (credentials.user.as_str(), credentials.password.as_str()),
            ("ha@home", "s3cr/t")
        );
        let broker = parse("mqtts://[::1]").unwrap();
        assert_eq!(
            (broker.host.as_str(), broker.port, broker.tls),
            ("::1", 8883, true)
        );
        assert_eq!(parse("mqtt://10.0.0.2/").unwrap().port, 1883);
    }

    #[test]
    fn bad_urls_are_refused_without_quoting_them() {
        for (text, error) in [
            ("broker:1883", BrokerError::Scheme),
            ("http://u:hunter2@broker", BrokerError::Scheme),
            ("mqtt://u:hunter2@broker/x", BrokerError::Extra),
            ("mqtt://u:hunter2@broker?x=1", BrokerError::Extra),
            ("not a url", BrokerError::NotAUrl),
            ("mqtt://u:%ff@broker", BrokerError::Credentials),
        ] {
            assert_eq!(parse(text), Err(error.clone()), "{text}");
            assert!(!error.to_string().contains("hunter2"));
        }
    }

    #[test]
    fn debug_never_shows_the_user_or_password() {
        let url = MqttUrl::from_arg("mqtt://alice:hunter2@broker:1883").unwrap();
        let broker = Broker::parse(&url).unwrap();
        for shown in [
            format!("{url:?}"),
            format!("{broker:?}"),
            format!("{broker:#?}"),
        ] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!shown.contains("alice"), "{shown}");
        }
        assert!(format!("{broker:?}").contains("broker"));
    }
}
