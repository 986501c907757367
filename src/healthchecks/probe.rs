//! Running one health check over the network: resolve its host, check every address against the
//! rule ([`super::check_reach`]), connect to the checked address only (pinned, so a DNS answer
//! cannot change in between), with no redirects and no proxy, within its timeout; then judge the
//! answer. Header values are never logged.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::{CheckSpec, MAX_BODY_BYTES, Seen, Verdict, check_reach, judge};
use crate::webhooks::worker::describe;

/// How long a host name may take to resolve (within the check's own timeout).
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolves the URL's host and checks where it points; returns the host as looked up and the
/// address to connect to. The rule a check is held to when it is saved and at every run.
pub async fn destination(allow: &[IpNet], url: &str) -> Result<(String, SocketAddr), String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| "That is not a valid web address.".to_owned())?;
    let host = parsed.host_str().ok_or_else(|| "The URL has no host.".to_owned())?.to_owned();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let lookup = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let resolved = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((lookup.as_str(), port))).await;
    let addrs: Vec<SocketAddr> = match resolved {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(_)) => return Err(format!("{host} cannot be resolved: no address is known for it.")),
        Err(_) => return Err(format!("{host} cannot be resolved within {} seconds.", RESOLVE_TIMEOUT.as_secs())),
    };
    let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
    let ip = check_reach(&host, &ips, allow)?;
    Ok((lookup.clone(), SocketAddr::new(ip, port)))
}

/// Runs a check and judges what it saw. `secrets` holds the values of its secret headers.
#[tracing::instrument(skip_all, fields(method = %spec.method))]
pub async fn run(allow: &[IpNet], spec: &CheckSpec, secrets: &HashMap<String, String>) -> Verdict {
    let started = Instant::now();
    let seen = see(allow, spec, secrets, started).await;
    judge(spec, &seen)
}

fn elapsed_ms(started: Instant) -> u32 {
    u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX)
}

async fn see(allow: &[IpNet], spec: &CheckSpec, secrets: &HashMap<String, String>, started: Instant) -> Seen {
    let no_answer = |error: String| Seen::NoAnswer { error, elapsed_ms: elapsed_ms(started) };
    let (host, addr) = match destination(allow, &spec.url).await {
        Ok(found) => found,
        Err(why) => return no_answer(format!("refused: {why}")),
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(u64::from(spec.timeout_ms)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("Gameday-health-check/", env!("CARGO_PKG_VERSION")))
        .resolve(&host, addr)
        .build();
    let client = match client {
        Ok(client) => client,
        Err(err) => return no_answer(describe(&err)),
    };
    let method = if spec.method == "HEAD" { reqwest::Method::HEAD } else { reqwest::Method::GET };
    let mut request = client.request(method, &spec.url);
    for header in &spec.headers {
        let value = match &header.value {
            Some(value) => Some(value.as_str()),
            None => secrets.get(&header.name).map(String::as_str),
        };
        if let Some(value) = value {
            request = request.header(header.name.as_str(), value);
        }
    }
    // The timeout covers the whole answer, body included.
    let deadline = Duration::from_millis(u64::from(spec.timeout_ms));
    let answer = tokio::time::timeout(deadline, async {
        let mut response = request.send().await?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while body.len() < MAX_BODY_BYTES {
            match response.chunk().await? {
                Some(chunk) => body.extend_from_slice(&chunk[..chunk.len().min(MAX_BODY_BYTES - body.len())]),
                None => break,
            }
        }
        Ok::<_, reqwest::Error>((status, body))
    })
    .await;
    match answer {
        Ok(Ok((status, body))) => Seen::Answered { status, elapsed_ms: elapsed_ms(started), body },
        Ok(Err(err)) => no_answer(describe(&err)),
        Err(_) => no_answer("timed out".into()),
    }
}
