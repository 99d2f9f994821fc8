package agents.prompt_guard

cfg := data.guard

msg := input.message.text

# Fold case, map homoglyphs, squeeze whitespace.
folded := regex.replace(strings.replace_n(cfg.homoglyphs, lower(msg)), `\s+`, " ")

hits contains p if {
	some p in cfg.phrases
	contains(folded, p)
}

positions := {p: indexof(folded, p) | some p in hits}

default shouting := false

shouting if {
	count(msg) > 10
	upper(msg) == msg
	lower(msg) != msg
}

code_fences := count(regex.find_n("```", msg, -1))

urls := regex.find_n(`https?://[^\s)]+`, msg, 5)

preview := sprintf("%s…", [substring(msg, 0, 24)]) if count(msg) > 24

else := msg

trimmed := {
	"trim": trim(msg, " \t\n*"),
	"left": trim_left(msg, " #>"),
	"right": trim_right(msg, " .!?"),
	"prefix": trim_prefix(msg, "User: "),
	"suffix": trim_suffix(msg, "\n"),
	"space": trim_space(msg),
}

words := [w | some w in split(trim_space(folded), " "); w != ""]

reasons contains "message text must be a string" if not is_string(msg)

reasons contains sprintf("injection phrase %q at %d", [p, i]) if some p, i in positions

reasons contains sprintf("message too long: %d > %d characters", [count(msg), cfg.max_chars]) if count(msg) > cfg.max_chars

reasons contains "unbalanced code fences" if code_fences % 2 == 1

reasons contains "role marker in user text" if {
	some prefix in ["system:", "assistant:", "<|im_start|>", "[inst]"]
	startswith(trim_space(folded), prefix)
}

reasons contains "ends with a dangling instruction marker" if endswith(trim_space(folded), ":")

default allow := false

allow if count(reasons) == 0

default first_word := ""

first_word := words[0]

default stats := {}

stats := {
	"chars": count(msg),
	"words": count(words),
	"first_word": first_word,
	"upper_first": upper(substring(msg, 0, 1)),
	"urls": urls,
	"shouting": shouting,
	"preview": preview,
	"trimmed": trimmed,
}

decision := {"allow": allow, "reasons": reasons, "stats": stats}
