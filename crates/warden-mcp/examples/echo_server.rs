//! A trivial MCP server on stdio for benchmarks: answers `initialize`, `tools/list` (one tool,
//! `echo`) and `tools/call` (echoes `arguments.text`) with as little work as possible, so a
//! benchmark measures the gateway, not the server.

use std::io::{BufRead, Write};

fn main() {
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout());
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let Some(id) = msg.get("id") else { continue };
        let result = match msg.get("method").and_then(|m| m.as_str()) {
            Some("initialize") => serde_json::json!({
                "protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                "serverInfo": {"name": "echo", "version": "1"}}),
            Some("tools/list") => serde_json::json!({"tools": [{"name": "echo",
                "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}}]}),
            Some("tools/call") => {
                let text = msg
                    .pointer("/params/arguments/text")
                    .cloned()
                    .unwrap_or_default();
                serde_json::json!({"content": [{"type": "text", "text": text}], "isError": false})
            }
            _ => serde_json::json!({}),
        };
        let reply = serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result});
        if writeln!(out, "{reply}").and_then(|_| out.flush()).is_err() {
            break;
        }
    }
}
