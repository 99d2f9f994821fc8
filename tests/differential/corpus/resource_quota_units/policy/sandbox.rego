package agents.sandbox

plan := data.plans[input.plan]

req := object.get(input, "resources", {})

mem := units.parse_bytes(req.memory)

disk := units.parse_bytes(req.disk)

cpu := units.parse(req.cpu)

limit_mem := units.parse_bytes(plan.memory)

limit_disk := units.parse_bytes(plan.disk)

limit_cpu := units.parse(plan.cpu)

reasons contains "unknown plan" if not plan

reasons contains sprintf("memory %v exceeds %v", [req.memory, plan.memory]) if mem > limit_mem

reasons contains sprintf("disk %v exceeds %v", [req.disk, plan.disk]) if disk > limit_disk

reasons contains sprintf("cpu %v exceeds %v", [req.cpu, plan.cpu]) if cpu > limit_cpu

reasons contains "memory must be at least 64Mi" if mem < units.parse_bytes("64Mi")

reasons contains sprintf("gpus %v exceeds %v", [req.gpus, plan.gpus]) if object.get(req, "gpus", 0) > plan.gpus

default allow := false

allow if count(reasons) == 0

parsed := {"memory_bytes": mem, "disk_bytes": disk, "cpu_cores": cpu, "mem_gib": mem / (1024 * 1024 * 1024)}

default shown := null

shown := parsed

decision := {"allow": allow, "reasons": reasons, "parsed": shown}
