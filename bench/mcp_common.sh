# Shared by bench/mcp.sh and bench/mcp_http.sh: the benchmark's policy project in "$1/p" (one
# rule on the echo tool's argument, so every call is really decided). With FAIL_OPEN_READS=1 the
# tenant declares `fail_mode: { read: open }`: the echo tool is a read, so its audit record is
# then committed while the call is upstream instead of before it is forwarded.
write_bench_policy() {
  mkdir -p "$1/p/policies"
  printf 'name: bench\nversion: 1.0.0\n' > "$1/p/warden.yaml"
  cat > "$1/p/policies/p.yaml" <<YAML
warden: 1
tenant: acme
$( [ "${FAIL_OPEN_READS:-0}" = 1 ] && printf 'defaults:\n  fail_mode: { read: open }' )
tools:
  bench:
    actions:
      echo: { class: read, args: { text: string } }
agents:
  bench-agent:
    tools:
      bench:
        echo:
          rules:
            - id: short
              require: { args.text: { max_length: 100 } }
              reason: text_too_long
YAML
}
