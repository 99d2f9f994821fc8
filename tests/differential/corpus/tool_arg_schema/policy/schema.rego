package agents.schema

schema := data.schemas[input.tool]

args := input.args

props := object.get(schema, "props", {})

given := {k | some k, _ in args}

missing := {k | some k in schema.required} - given

unknown := given - {k | some k, _ in props}

type_errors contains sprintf("%s: expected %s, got %s", [k, p.type, type_name(args[k])]) if {
	some k, p in props
	k in given
	p.type != "any"
	type_name(args[k]) != p.type
}

range_errors contains sprintf("%s: %v is below %v", [k, v, p.min]) if {
	some k, p in props
	v := args[k]
	is_number(v)
	v < p.min
}

range_errors contains sprintf("%s: %v is above %v", [k, v, p.max]) if {
	some k, p in props
	v := args[k]
	is_number(v)
	v > p.max
}

range_errors contains sprintf("%s: %v is not an integer", [k, v]) if {
	some k, p in props
	p.integer
	v := args[k]
	is_number(v)
	v != floor(v)
}

length_errors contains sprintf("%s: length %d exceeds %d", [k, count(v), p.max_len]) if {
	some k, p in props
	v := args[k]
	not is_number(v)
	not is_boolean(v)
	not is_null(v)
	count(v) > p.max_len
}

pattern_errors contains sprintf("%s: does not match %s", [k, p.pattern]) if {
	some k, p in props
	v := args[k]
	is_string(v)
	not regex.match(p.pattern, v)
}

enum_errors contains sprintf("%s: %v is not one of %v", [k, v, p.enum]) if {
	some k, p in props
	v := args[k]
	not v in p.enum
}

errors := ((((type_errors | range_errors) | length_errors) | pattern_errors) | enum_errors) | {sprintf("missing %s", [k]) | some k in missing}

reasons contains sprintf("unknown tool %v", [input.tool]) if not schema

reasons contains "args must be an object" if not is_object(args)

reasons contains e if some e in errors

reasons contains sprintf("unexpected argument %s", [k]) if some k in unknown

default allow := false

allow if count(reasons) == 0

default shape := {}

shape := {k: {
	"type": type_name(v),
	"is": [t | some t, ok in {"string": is_string(v), "number": is_number(v), "boolean": is_boolean(v), "array": is_array(v), "object": is_object(v), "null": is_null(v), "set": is_set(v)}; ok],
} | some k, v in args}

default ordering := []

ordering := sort([v | some _, v in args])

decision := {
	"allow": allow,
	"reasons": reasons,
	"shape": shape,
	"ordering": ordering,
	"same_as_last": args == object.get(input, "last_args", null),
	"distinct_values": count({v | some _, v in args}),
}
