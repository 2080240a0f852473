//! The URL guard: webhooks may only go to public addresses.
//!
//! A URL is checked when an endpoint is configured and again at every delivery, after DNS
//! resolution: loopback, private, link-local, CGNAT, multicast, broadcast, unspecified,
//! documentation, reserved and cloud-metadata addresses are refused (IPv4, IPv6 and IPv4-mapped
//! IPv6 alike) unless an allow-list names them. Deliveries connect only to the addresses that
//! passed, because the HTTP client resolves through [`GuardedResolver`]: there is no second
//! lookup for an attacker's DNS to answer differently.
//!
//! A sandboxed server sends no DNS query at all: it resolves names from the hosts file and
//! `localhost` only, so a test run can neither reach out nor wait on an unreachable resolver.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

/// An address range such as `127.0.0.1/32` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr.trim().parse().map_err(|_| format!("`{addr}` is not an IP address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`/{p}` is not a prefix length up to {max}"))?,
            None => max,
        };
        Ok(Cidr { network, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// What may receive webhooks.
#[derive(Debug, Clone, Default)]
pub struct UrlPolicy {
    /// Ranges allowed even though they are not public (for local use and tests).
    pub allow: Vec<Cidr>,
    /// Refuse `http://` URLs.
    pub https_only: bool,
    /// Deliver only to the `allow` ranges: public addresses are still accepted in endpoint URLs,
    /// but every attempt to reach one fails as blocked, without connecting. For sandboxes and
    /// test runs that must never call out.
    pub sandboxed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("`{0}` is not an absolute http(s) URL")]
    NotHttp(String),
    #[error("only https:// URLs are accepted")]
    HttpsRequired,
    #[error("URLs with a user name or password are not accepted; send credentials as custom headers")]
    Credentials,
    #[error("{ip} is a {class} address, which cannot receive webhooks")]
    Blocked { ip: IpAddr, class: &'static str },
    #[error("cannot resolve {host}: {reason}")]
    Unresolvable { host: String, reason: String },
}

/// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The class of a non-public address, or `None` for a public one.
pub fn classify(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match () {
        _ if ip.is_unspecified() || a == 0 => "unspecified",
        _ if ip.is_loopback() => "loopback",
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => "cloud metadata",
        _ if ip.is_link_local() => "link-local",
        _ if ip.is_private() => "private",
        _ if a == 100 && (64..128).contains(&b) => "carrier-grade NAT",
        _ if ip.is_multicast() => "multicast",
        _ if ip.is_broadcast() => "broadcast",
        _ if ip.is_documentation() => "documentation",
        _ if a == 192 && b == 0 && c == 0 => "IETF protocol assignment",
        _ if a == 198 && (b == 18 || b == 19) => "benchmarking",
        _ if a >= 240 => "reserved",
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(match () {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        _ if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) => "cloud metadata",
        _ if first & 0xffc0 == 0xfe80 => "link-local",
        _ if first & 0xfe00 == 0xfc00 => "unique local (private)",
        _ if ip.is_multicast() => "multicast",
        _ if first == 0x2001 && ip.segments()[1] == 0x0db8 => "documentation",
        _ if first == 0x0064 && ip.segments()[1] == 0xff9b => "NAT64",
        _ if first == 0x2002 => "6to4",
        _ if ip.segments()[..6] == [0, 0, 0, 0, 0, 0] => "IPv4-compatible (deprecated)",
        _ => return None,
    })
}

impl UrlPolicy {
    /// Whether this address may receive webhooks.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), GuardError> {
        match classify(ip) {
            Some(class) if !self.allow.iter().any(|c| c.contains(ip)) => Err(GuardError::Blocked { ip, class }),
            _ => Ok(()),
        }
    }

    /// Whether a delivery may connect to this address: [`UrlPolicy::check_ip`], and in a
    /// sandbox only the allowed ranges.
    pub fn check_delivery_ip(&self, ip: IpAddr) -> Result<(), GuardError> {
        self.check_ip(ip)?;
        if self.sandboxed && !self.allow.iter().any(|c| c.contains(ip)) {
            return Err(GuardError::Blocked { ip, class: "public (this server is sandboxed)" });
        }
        Ok(())
    }

    /// Checks a URL before a delivery: [`UrlPolicy::check_url`], and a literal address with
    /// [`UrlPolicy::check_delivery_ip`].
    pub fn check_delivery_url(&self, url: &str) -> Result<Url, GuardError> {
        let parsed = self.check_url(url)?;
        match parsed.host() {
            Some(url::Host::Ipv4(ip)) => self.check_delivery_ip(IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.check_delivery_ip(IpAddr::V6(ip))?,
            _ => {}
        }
        Ok(parsed)
    }

    /// Checks the URL's form (and its address, when the host is an IP literal).
    pub fn check_url(&self, url: &str) -> Result<Url, GuardError> {
        let parsed = Url::parse(url).map_err(|_| GuardError::NotHttp(url.to_owned()))?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.https_only => return Err(GuardError::HttpsRequired),
            "http" => {}
            _ => return Err(GuardError::NotHttp(url.to_owned())),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(GuardError::Credentials);
        }
        match parsed.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip))?,
            Some(url::Host::Domain(_)) => {}
            None => return Err(GuardError::NotHttp(url.to_owned())),
        }
        Ok(parsed)
    }

    /// Checks the URL, resolving its host name; the addresses that may be used. A lookup that
    /// takes longer than [`CONFIG_LOOKUP_TIMEOUT`] counts as unresolvable, so a slow resolver
    /// cannot hold up the request that configures an endpoint.
    pub async fn check_url_resolved(&self, url: &str) -> Result<(Url, Vec<SocketAddr>), GuardError> {
        let parsed = self.check_url(url)?;
        let host = parsed.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addrs = tokio::time::timeout(CONFIG_LOOKUP_TIMEOUT, self.resolve(&host, port)).await.map_err(|_| {
            GuardError::Unresolvable {
                host: host.clone(),
                reason: format!("no answer within {} s", CONFIG_LOOKUP_TIMEOUT.as_secs()),
            }
        })??;
        Ok((parsed, addrs))
    }

    /// Resolves `host` and keeps the allowed addresses; refuses when none is.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, GuardError> {
        self.resolve_with(host, port, |ip| self.check_ip(ip)).await
    }

    /// Like [`UrlPolicy::resolve`], for a delivery ([`UrlPolicy::check_delivery_ip`]).
    pub async fn resolve_for_delivery(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, GuardError> {
        self.resolve_with(host, port, |ip| self.check_delivery_ip(ip)).await
    }

    async fn resolve_with(
        &self,
        host: &str,
        port: u16,
        check: impl Fn(IpAddr) -> Result<(), GuardError>,
    ) -> Result<Vec<SocketAddr>, GuardError> {
        let found = self.lookup(host, port).await?;
        let mut first_refusal = None;
        let allowed: Vec<SocketAddr> = found
            .into_iter()
            .filter(|a| match check(a.ip()) {
                Ok(()) => true,
                Err(e) => {
                    first_refusal.get_or_insert(e);
                    false
                }
            })
            .collect();
        match (allowed.is_empty(), first_refusal) {
            (false, _) => Ok(allowed),
            (true, Some(refusal)) => Err(refusal),
            (true, None) => Err(GuardError::Unresolvable { host: host.to_owned(), reason: "no addresses".into() }),
        }
    }

    /// The addresses `host` names: from the system resolver, or in a sandbox from
    /// [`local_addresses`] only.
    async fn lookup(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, GuardError> {
        let unresolvable = |reason: String| GuardError::Unresolvable { host: host.to_owned(), reason };
        if !self.sandboxed {
            return Ok(tokio::net::lookup_host((host, port)).await.map_err(|e| unresolvable(e.to_string()))?.collect());
        }
        let hosts = tokio::fs::read_to_string(HOSTS_FILE).await.unwrap_or_default();
        let found = local_addresses(host, &hosts);
        if found.is_empty() {
            return Err(unresolvable(format!(
                "this server is sandboxed and resolves names only from {HOSTS_FILE} and localhost"
            )));
        }
        Ok(found.into_iter().map(|ip| SocketAddr::new(ip, port)).collect())
    }
}

/// How long configuring an endpoint waits for its host name to resolve.
pub const CONFIG_LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a sandbox looks names up.
const HOSTS_FILE: &str = "/etc/hosts";

/// The addresses a name has without asking DNS: an IP literal is itself, `localhost` and its
/// subdomains are loopback (RFC 6761), and any other name is looked up in `hosts` (the hosts
/// file's text: an address, then its names, per line).
pub fn local_addresses(host: &str, hosts: &str) -> Vec<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return vec![ip];
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)];
    }
    hosts
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let ip = fields.next()?.parse::<IpAddr>().ok()?;
            fields.any(|n| n.eq_ignore_ascii_case(&name)).then_some(ip)
        })
        .collect()
}

/// The HTTP client's DNS resolver: resolves and drops every address the policy refuses.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    pub policy: Arc<UrlPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let addrs = policy
                .resolve_for_delivery(name.as_str(), 0)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: &UrlPolicy, ip: &str) -> bool {
        policy.check_ip(ip.parse().unwrap()).is_err()
    }

    #[test]
    fn every_non_public_class_is_refused() {
        let p = UrlPolicy::default();
        for ip in [
            "127.0.0.1",
            "127.9.9.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "198.18.0.1",
            "240.0.0.1",
            "192.0.0.8",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "2001:db8::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:a00:1::",
        ] {
            assert!(refused(&p, ip), "{ip} should be refused");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "100.128.0.1", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(!refused(&p, ip), "{ip} is public");
        }
    }

    #[test]
    fn the_allow_list_opens_ranges() {
        let p =
            UrlPolicy { allow: vec!["127.0.0.1/32".parse().unwrap(), "::1".parse().unwrap()], ..UrlPolicy::default() };
        assert!(!refused(&p, "127.0.0.1"));
        assert!(!refused(&p, "::ffff:127.0.0.1"), "a mapped address is judged as IPv4");
        assert!(!refused(&p, "::1"));
        assert!(refused(&p, "127.0.0.2"));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
    }

    #[test]
    fn url_forms() {
        let p = UrlPolicy { https_only: true, ..UrlPolicy::default() };
        assert_eq!(p.check_url("http://example.com/h"), Err(GuardError::HttpsRequired));
        assert!(matches!(p.check_url("ftp://example.com"), Err(GuardError::NotHttp(_))));
        assert_eq!(p.check_url("https://u:p@example.com"), Err(GuardError::Credentials));
        assert!(matches!(p.check_url("https://[::1]/x"), Err(GuardError::Blocked { .. })));
        assert!(p.check_url("https://example.com/hooks").is_ok());
    }

    #[tokio::test]
    async fn host_names_are_judged_by_what_they_resolve_to() {
        let p = UrlPolicy::default();
        let e = p.check_url_resolved("http://localhost:9/x").await.unwrap_err();
        assert!(matches!(e, GuardError::Blocked { class: "loopback", .. }), "{e}");
        let allowed = UrlPolicy {
            allow: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
            ..UrlPolicy::default()
        };
        let (_, addrs) = allowed.check_url_resolved("http://localhost:9/x").await.unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 9));
    }

    #[tokio::test]
    async fn a_sandbox_accepts_public_urls_but_delivers_only_to_allowed_ranges() {
        let p = UrlPolicy { allow: vec!["127.0.0.1/32".parse().unwrap()], sandboxed: true, ..UrlPolicy::default() };
        assert!(p.check_url("https://8.8.8.8/hook").is_ok(), "endpoint URLs are judged as without a sandbox");
        assert!(matches!(p.check_delivery_url("https://8.8.8.8/hook"), Err(GuardError::Blocked { .. })));
        assert!(p.check_delivery_url("http://127.0.0.1:9/hook").is_ok());
        assert!(p.resolve_for_delivery("localhost", 9).await.is_ok_and(|a| a.iter().all(|a| a.ip().is_loopback())));
        let e = p.resolve_for_delivery("receiver.example.com", 443).await.unwrap_err();
        assert!(matches!(e, GuardError::Unresolvable { .. }), "a sandbox sends no DNS query: {e}");
        let open = UrlPolicy::default();
        assert!(open.check_delivery_url("https://8.8.8.8/hook").is_ok());
    }

    #[test]
    fn a_sandbox_resolves_literals_localhost_and_the_hosts_file() {
        let hosts = "127.0.0.1 localhost\n# 10.0.0.9 commented.test\n10.1.2.3  receiver Receiver.Local # partner\n";
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(local_addresses("10.9.9.9", hosts), [ip("10.9.9.9")]);
        assert_eq!(local_addresses("api.LOCALHOST.", hosts), [ip("127.0.0.1"), ip("::1")]);
        assert_eq!(local_addresses("receiver.local", hosts), [ip("10.1.2.3")]);
        assert!(local_addresses("commented.test", hosts).is_empty());
        assert!(local_addresses("example.com", hosts).is_empty());
    }

    #[test]
    fn every_non_public_literal_the_guard_refuses_is_ruled_out_by_the_pattern() {
        // Every /24 of the IPv4 space, judged by the guard and by the pattern.
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                for c in [0u8, 2, 100, 113, 255] {
                    let ip = std::net::Ipv4Addr::new(a, b, c, 1);
                    let url = format!("http://{ip}/");
                    let guard_refuses = classify(ip.into()).is_some();
                    assert_eq!(crate::domain::rules::NON_PUBLIC_WEBHOOK_HOST.is_match(&url), guard_refuses, "{url}");
                }
            }
        }
    }
}
