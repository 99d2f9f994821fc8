package agents.oncall

team := data.oncall.teams[input.team]

now := time.parse_rfc3339_ns(input.now)

incident := time.parse_rfc3339_ns(input.incident.opened_at)

clock := time.clock([now, team.tz])

date := time.date([now, team.tz])

weekday := time.weekday([now, team.tz])

month_day := sprintf("%02d-%02d", [date[1], date[2]])

local_time := time.format([now, team.tz, "2006-01-02 15:04:05 MST"])

deadline := time.add_date(incident, 0, 0, 30)

next_month := time.format([time.add_date(now, 0, 1, 0), team.tz, "Mon Jan 2 2006"])

age := time.diff(now, incident)

snooze_ns := time.parse_duration_ns(input.snooze)

snooze_until := time.format([now + snooze_ns, "UTC", "15:04"])

reasons contains "unknown team" if not team

reasons contains sprintf("outside business hours (%02d:%02d %s)", [clock[0], clock[1], team.tz]) if {
	not clock[0] >= team.start
}

reasons contains sprintf("outside business hours (%02d:%02d %s)", [clock[0], clock[1], team.tz]) if {
	clock[0] >= team.end
}

reasons contains sprintf("%s is a weekend day in %s", [weekday, team.tz]) if weekday in {"Saturday", "Sunday"}

reasons contains sprintf("%s is a holiday", [month_day]) if month_day in data.oncall.holidays

reasons contains "incident is older than 30 days" if now > deadline

reasons contains "incident opened in the future" if incident > now

default allow := false

allow if count(reasons) == 0

default details := {}

details := {
	"local_time": local_time,
	"weekday": weekday,
	"date": date,
	"age": age,
	"next_month": next_month,
	"deadline": time.format(deadline),
}

default snooze := null

snooze := snooze_until

decision := {"allow": allow, "reasons": reasons, "details": details, "snooze_until": snooze}
