//! `sluice plan` / `--dry-run` output: a [`Plan`] in words.

use sluice_pipeline::Plan;

/// The plan as the terminal shows it.
pub fn render(p: &Plan) -> String {
    let mut out = vec![
        format!(
            "plan for pipeline `{}` (dry run: nothing extracted, nothing loaded)",
            p.pipeline
        ),
        format!(
            "connector    {} — source `{}` {}, sha256:{}",
            p.connector, p.source, p.version, p.component_digest
        ),
        format!("destination  {}, dataset `{}`", p.destination, p.dataset),
        format!(
            "grants       read: {}; hosts: {}; private addresses: {}",
            list(&p.read),
            list(&p.allow_hosts),
            if p.allow_private_addresses {
                "allowed"
            } else {
                "refused"
            }
        ),
    ];
    if p.secrets.is_empty() {
        out.push("secrets      none".into());
    }
    for (i, s) in p.secrets.iter().enumerate() {
        let head = if i == 0 { "secrets" } else { "" };
        out.push(format!(
            "{head:<12} `{}` → {} ({}, from {})",
            s.name, s.host, s.scheme, s.from
        ));
    }
    for (i, d) in p.databases.iter().enumerate() {
        let head = if i == 0 { "databases" } else { "" };
        out.push(format!("{head:<12} {d}"));
    }
    for (i, b) in p.buckets.iter().enumerate() {
        let head = if i == 0 { "buckets" } else { "" };
        out.push(format!("{head:<12} {b}"));
    }
    out.push("resources".into());
    for r in &p.resources {
        let h = &r.hints;
        let mut line = format!(
            "  {:<18} → table `{}`, {}",
            r.name,
            h.table,
            h.write_disposition.as_str()
        );
        if let Some(m) = h.merge_strategy {
            line.push_str(&format!(" ({})", m.as_str()));
        }
        if !h.primary_key.is_empty() {
            line.push_str(&format!(", primary key {}", h.primary_key.join(", ")));
        }
        if !h.merge_key.is_empty() {
            line.push_str(&format!(", merge key {}", h.merge_key.join(", ")));
        }
        if let Some(parent) = &r.parent {
            line.push_str(&format!(", one extraction per page of `{parent}`"));
        }
        if let Some(i) = &r.incremental {
            line.push_str(&format!(", incremental on `{}`", i.cursor_path));
            if let Some(v) = &i.initial_value {
                line.push_str(&format!(" from {v}"));
            }
        }
        out.push(line);
    }
    out.push(format!(
        "limits       memory {} MiB, {} s per call, {} s per run",
        p.memory_mb, p.call_timeout_secs, p.run_timeout_secs
    ));
    out.join("\n")
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}
