package lib.roles

# Transitive closure of a role's inherited roles (graph.reachable over data.lib.roles.inherits).
effective(role) := graph.reachable(data.lib.roles.inherits, [role])

# Every role the principal holds, directly or by inheritance (partial set).
principal_roles contains r if {
	some direct in input.principal.roles
	is_string(direct)
	some r in effective(direct)
}

# Tools granted per role (partial object).
tools_by_role[r] := {t | some t in data.lib.roles.grants[r]} if some r in principal_roles

granted contains t if {
	some _, ts in tools_by_role
	some t in ts
}

is_admin if "admin" in principal_roles
