//! The inspector page at `GET /`: every delivery with its verdicts and pretty-printed body, as one
//! self-contained HTML page (no scripts or styles from elsewhere). `?refresh=N` reloads it every N
//! seconds.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Html;
use serde::Deserialize;

use super::Shared;

#[derive(Deserialize)]
pub(super) struct PageQuery {
    refresh: Option<u32>,
}

/// At most this many deliveries, newest first, so the page stays quick with a long history.
const SHOWN: usize = 500;

pub(super) async fn page(State(shared): State<Arc<Shared>>, Query(query): Query<PageQuery>) -> Html<String> {
    let (deliveries, summary) = {
        let state = shared.lock();
        let shown: Vec<_> = state.deliveries.iter().rev().take(SHOWN).cloned().collect();
        (shown, state.summary.clone())
    };
    let mut html = String::from("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    if let Some(seconds) = query.refresh.filter(|s| *s > 0) {
        let _ = write!(html, "<meta http-equiv=\"refresh\" content=\"{seconds}\">");
    }
    html.push_str(concat!(
        "<title>webhook-sim receiver</title><style>",
        "body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse;width:100%}",
        "td,th{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}",
        ".ok{color:#176f2c}.bad{color:#b00020;font-weight:600}pre{background:#f6f8fa;padding:8px;overflow:auto}",
        "code{font-size:12px}</style></head><body><h1>webhook-sim receiver</h1>"
    ));
    html.push_str("<p>");
    for line in summary.lines() {
        let _ = write!(html, "{}<br>", escape(&line));
    }
    html.push_str("</p><p>JSON: <a href=\"/_sim/deliveries\">/_sim/deliveries</a> · <a href=\"/_sim/summary\">/_sim/summary</a> · <a href=\"/_sim/script\">/_sim/script</a> · <a href=\"/?refresh=2\">auto-refresh</a></p>");
    html.push_str("<table><tr><th>#</th><th>received</th><th>request</th><th>event</th><th>webhook-id</th><th>attempt</th><th>signature</th><th>schema</th><th>answer</th></tr>");
    for d in &deliveries {
        let verdict = |ok: bool, why: String| {
            if ok {
                "<span class=ok>valid</span>".to_owned()
            } else {
                format!("<span class=bad>{}</span>", escape(&why))
            }
        };
        let answer = match (d.answer.status, d.answer.fault) {
            (_, Some(fault)) => format!("{fault:?}"),
            (Some(status), None) => status.to_string(),
            (None, None) => "-".into(),
        };
        let body = match d.json() {
            Some(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
            None => String::from_utf8_lossy(&d.body_bytes()).into_owned(),
        };
        let flags = [(d.duplicate, " duplicate"), (d.out_of_order, " out-of-order")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| *name)
            .collect::<String>();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td><code>{}</code></td><td>{}{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
            d.seq,
            escape(&d.received_at),
            escape(&d.method),
            escape(&d.path),
            escape(d.event_type.as_deref().unwrap_or("-")),
            escape(d.webhook_id.as_deref().unwrap_or("-")),
            d.attempt,
            escape(&flags),
            verdict(d.signature.valid, d.signature.error.clone().unwrap_or_default()),
            verdict(d.schema.valid, d.schema.errors.join("; ")),
            escape(&answer),
            if d.answer.delay_ms > 0 { format!(" after {} ms", d.answer.delay_ms) } else { String::new() },
        );
        let _ = write!(html, "<tr><td></td><td colspan=8><details><summary>body and headers</summary><pre>");
        for (name, value) in &d.headers {
            let _ = writeln!(html, "{}: {}", escape(name), escape(value));
        }
        let _ = write!(html, "</pre><pre>{}</pre></details></td></tr>", escape(&body));
    }
    html.push_str("</table></body></html>");
    Html(html)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
