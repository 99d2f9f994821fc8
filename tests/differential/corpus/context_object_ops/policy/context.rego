package agents.context

defaults := data.context.org_defaults

team_settings := object.get(input, ["team", "settings"], {})

user_settings := object.get(input, ["user", "settings"], {})

# Later objects win: org < team < user.
settings := object.union(object.union(defaults, team_settings), user_settings)

profile := object.get(input, ["user", "profile"], {})

visible_profile := object.filter(object.remove(profile, data.context.never_visible), data.context.visible_fields)

patched := json.patch(settings, input.overrides)

final_settings := patched if input.overrides

else := settings

lookups := {
	"tokens": object.get(final_settings, ["limits", "tokens"], 1000),
	"web": object.get(final_settings, ["tools", "web"], false),
	"deep": object.get(input, ["user", "profile", "prefs", "ui", "theme"], "light"),
	"missing_path": object.get(input, ["no", "such", "path"], null),
	"empty_path": count(object.get(input, [], {})),
	"array_index": object.get(input, ["user", "groups", 0], "none"),
}

reasons contains sprintf("token limit %v is above 32000", [lookups.tokens]) if lookups.tokens > 32000

reasons contains "code tool cannot be enabled by users" if object.get(user_settings, ["tools", "code"], false) == true

reasons contains sprintf("field %s must never be exposed", [k]) if {
	some k in data.context.never_visible
	object.get(final_settings, k, null) != null
}

reasons contains "user settings must not be empty when present" if {
	input.user.settings == {}
}

default allow := false

allow if count(reasons) == 0

decision := {
	"allow": allow,
	"reasons": reasons,
	"settings": final_settings,
	"settings_keys": object.keys(final_settings),
	"profile": visible_profile,
	"lookups": lookups,
	"is_subset_of_defaults": object.subset(defaults, user_settings),
}
