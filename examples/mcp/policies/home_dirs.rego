# Bring-your-own Rego: a rule the YAML language cannot express, because it relates two inputs.
# Under /srv/data/users/ each user may only reach their own home directory,
# /srv/data/users/<user.id>/. The YAML rules already refuse `..` segments and paths outside
# /srv/data/.
package warden.custom.home_dirs

users_root := "/srv/data/users/"

violations contains v if {
	input.action.tool == "filesystem"
	path := input.action.args.path
	is_string(path)
	startswith(path, users_root)
	not own_home(path)
	v := {
		"reason": "other_users_directory",
		"message": sprintf("%s is outside the home directory of user %v", [path, object.get(input, ["user", "id"], "(none)")]),
		"remediation": "Work in /srv/data/users/<your user id>/ or in /srv/data/out/.",
		"outcome": "deny",
	}
}

own_home(path) if {
	uid := input.user.id
	is_string(uid)
	regex.match(`^[A-Za-z0-9_.-]+$`, uid)
	uid != "."
	uid != ".."
	startswith(path, concat("", [users_root, uid, "/"]))
}
