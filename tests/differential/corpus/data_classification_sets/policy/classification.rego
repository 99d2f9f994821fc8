package agents.classification

cfg := data.classification

docs := [d | some d in input.documents; is_object(d)]

doc_labels := {d.id: {l | some l in d.labels; is_string(l)} | some d in docs}

all_labels := union({ls | some _, ls in doc_labels})

common_labels := intersection({ls | some _, ls in doc_labels})

compartments_needed := all_labels & {c | some c in cfg.compartments}

clearances := {c | some c in input.user.clearances; is_string(c)}

missing := compartments_needed - clearances

level_of(d) := cfg.levels[d.level]

max_level := max([level_of(d) | some d in docs])

channel_level := cfg.levels[cfg.channel_max[input.channel]]

too_high := sort([d.id | some d in docs; level_of(d) > channel_level])

unknown_levels := {d.id | some d in docs; not level_of(d)}

labels_by_level := {lvl: sort([d.id | some d in docs; d.level == lvl]) | some lvl, _ in cfg.levels}

extra_clearances := clearances - compartments_needed

shared := clearances | compartments_needed

reasons contains sprintf("missing clearance for %v", [sort(missing)]) if count(missing) > 0

reasons contains sprintf("documents %v exceed channel %v", [too_high, input.channel]) if count(too_high) > 0

reasons contains sprintf("documents with unknown level: %v", [sort(unknown_levels)]) if count(unknown_levels) > 0

reasons contains "unknown channel" if not channel_level

reasons contains "duplicate document ids" if count(doc_labels) != count(docs)

default all_public := false

all_public if {
	count(docs) > 0
	every d in docs {
		d.level == "public"
	}
}

default allow := false

allow if count(reasons) == 0

default top := null

top := max_level

decision := {
	"allow": allow,
	"reasons": reasons,
	"all_labels": all_labels,
	"common_labels": common_labels,
	"missing": missing,
	"extra_clearances": extra_clearances,
	"union": shared,
	"by_level": labels_by_level,
	"max_level": top,
	"all_public": all_public,
}
