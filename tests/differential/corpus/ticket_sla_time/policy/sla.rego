package agents.sla

p := data.sla.priorities[input.ticket.priority]

zone := data.sla.zones[input.customer.region]

opened := time.parse_rfc3339_ns(input.ticket.opened_at)

closed := time.parse_ns("2006-01-02 15:04:05 -0700", input.ticket.closed_at)

deadline := time.add_date(opened, 0, object.get(p, "months", 0), p.days) + (p.hours * 3600000000000)

elapsed := time.diff(opened, closed)

late if closed > deadline

local_close := time.date([closed, zone])

close_weekday := time.weekday([closed, zone])

formats := {
	"rfc3339": time.format(deadline),
	"local": time.format([deadline, zone]),
	"kitchen": time.format([deadline, zone, "3:04PM"]),
	"ansic": time.format([deadline, zone, "Mon Jan _2 15:04:05 2006"]),
	"custom": time.format([deadline, zone, "2006-01-02T15:04:05.000Z07:00"]),
	"date_only": time.format([closed, zone, "02 Jan 06 MST"]),
}

hours_open := (closed - opened) / 3600000000000

reasons contains "unknown priority" if not p

reasons contains "unknown region" if not zone

reasons contains sprintf("closed %v hours after opening, after the SLA deadline %s", [round(hours_open), time.format([deadline, zone])]) if late

reasons contains "closed before it was opened" if closed < opened

reasons contains sprintf("closed on a %s (customer local time)", [close_weekday]) if close_weekday in {"Saturday", "Sunday"}

default allow := false

allow if count(reasons) == 0

default info := {}

info := {"elapsed": elapsed, "local_close": local_close, "weekday": close_weekday, "formats": formats, "hours_open": hours_open}

decision := {"allow": allow, "reasons": reasons, "info": info}
