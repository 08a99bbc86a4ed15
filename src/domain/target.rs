//! Where a webhook may point: `http`/`https` URLs whose addresses are public. Loopback,
//! private, link-local (cloud metadata included) and other internal ranges are refused at
//! registration and again at connect time, unless private targets are allowed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidTarget {
    #[error("the URL does not parse")]
    Malformed,
    #[error("webhook URLs must be http or https")]
    Scheme,
    #[error("webhook URLs must be at most 2,048 characters")]
    Length,
    #[error(
        "webhook URLs may not hold spaces or control characters (tab, CR, LF, NUL); percent-encode them"
    )]
    Unencoded,
    #[error("the host does not resolve")]
    Unresolvable,
    #[error("the host resolves to a private, loopback, link-local or metadata address ({0})")]
    Private(IpAddr),
}

/// A webhook URL, already checked when it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookUrl(Url);

impl WebhookUrl {
    /// URLs the document describes: `http` or `https`, a DNS name (its last label starting
    /// with a letter, as one ending in digits reads as an IPv4 address; no `--`, which
    /// would make a label read as punycode), an optional port, path and query of unreserved
    /// characters. The parser accepts more (IP addresses, percent
    /// escapes); every URL of this shape it accepts when private targets are allowed.
    pub const PATTERN: &str = "^https?://([a-z0-9]{1,20}(-[a-z0-9]{1,20}){0,2}\\.)*[a-z][a-z0-9]{0,19}(-[a-z0-9]{1,20}){0,2}(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?(\\?[A-Za-z0-9._~!$&'()*+,;=:@/?-]*)?$";
    pub const MAX_LEN: usize = 2048;

    /// Parses and, unless `allow_private`, resolves the host and refuses internal addresses.
    pub async fn parse(raw: &str, allow_private: bool) -> Result<Self, InvalidTarget> {
        if raw.len() > Self::MAX_LEN {
            return Err(InvalidTarget::Length);
        }
        // The URL parser drops tabs and newlines and trims spaces and control characters
        // without a word: the URL stored would not be the one the client sent.
        if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(InvalidTarget::Unencoded);
        }
        let url = Url::parse(raw).map_err(|_| InvalidTarget::Malformed)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(InvalidTarget::Scheme);
        }
        if url.host().is_none() {
            return Err(InvalidTarget::Malformed);
        }
        if !allow_private {
            resolve_public(&url).await?;
        }
        Ok(Self(url))
    }

    /// A URL stored when it was checked.
    pub fn trusted(url: Url) -> Self {
        Self(url)
    }

    pub fn as_url(&self) -> &Url {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl utoipa::PartialSchema for WebhookUrl {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let example = "https://example.com/hooks/seqhook";
        crate::schema::text(Self::PATTERN, 8..=Self::MAX_LEN, example)
            .format(Some(utoipa::openapi::SchemaFormat::Custom("uri".into())))
            .description(Some(
                "An `http` or `https` URL. Unless the server allows private targets, its host \
                 must resolve, and only to public addresses.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for WebhookUrl {}

/// Every address `url`'s host resolves to, all of them public.
pub async fn resolve_public(url: &Url) -> Result<Vec<SocketAddr>, InvalidTarget> {
    let host = url.host_str().ok_or(InvalidTarget::Malformed)?;
    let port = url.port_or_known_default().unwrap_or(80);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| InvalidTarget::Unresolvable)?
            .collect(),
    };
    if addresses.is_empty() {
        return Err(InvalidTarget::Unresolvable);
    }
    match addresses.iter().find(|address| !is_public(address.ip())) {
        Some(private) => Err(InvalidTarget::Private(private.ip())),
        None => Ok(addresses),
    }
}

pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, which holds the cloud metadata address
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, including fd00:ec2::254 metadata
        || (first & 0xffc0) == 0xfe80 // link-local
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || ip.segments()[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible, deprecated
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The document's pattern promises this: what matches it is accepted.
        #[test]
        fn every_url_the_document_allows_is_accepted_where_private_targets_are(
            raw in WebhookUrl::PATTERN.trim_matches(['^', '$'])
        ) {
            if raw.len() > WebhookUrl::MAX_LEN {
                return Ok(()); // longer than the document allows
            }
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let parsed = runtime.block_on(WebhookUrl::parse(&raw, true));
            prop_assert!(parsed.is_ok(), "{raw}: {parsed:?}");
        }
    }

    #[tokio::test]
    async fn internal_addresses_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1/hook",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
            "http://100.64.0.1/",
            "http://localhost:8080/",
        ] {
            assert!(
                matches!(
                    WebhookUrl::parse(url, false).await,
                    Err(InvalidTarget::Private(_))
                ),
                "{url}"
            );
            assert!(WebhookUrl::parse(url, true).await.is_ok(), "{url}");
        }
    }

    #[tokio::test]
    async fn only_http_and_https_parse() {
        assert_eq!(
            WebhookUrl::parse("ftp://example.com/", true).await,
            Err(InvalidTarget::Scheme)
        );
        assert_eq!(
            WebhookUrl::parse("file:///etc/passwd", true).await,
            Err(InvalidTarget::Scheme)
        );
        assert_eq!(
            WebhookUrl::parse("not-a-url", true).await,
            Err(InvalidTarget::Malformed)
        );
        for raw in [
            "https://example.com/a\r\nb",
            "https://example.com/\tx",
            "https://example.com/\0",
            " https://example.com/",
            "https://example.com/ x",
        ] {
            assert_eq!(
                WebhookUrl::parse(raw, true).await,
                Err(InvalidTarget::Unencoded),
                "{raw:?}"
            );
        }
        assert!(
            WebhookUrl::parse("https://93.184.216.34/hook", false)
                .await
                .is_ok()
        );
    }
}
