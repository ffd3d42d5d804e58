"""Key scopes (domain/access.py): admin calls everything, the others what a route names."""

from nudgeloop.domain import access


def test_admin_is_admitted_everywhere_and_others_only_where_named() -> None:
    assert access.admitted(()) == ("admin",)
    assert access.admitted(("read",)) == ("read", "admin")
    assert access.admitted(("read", "ingest")) == ("ingest", "read", "admin")
    assert access.allows("admin", ())
    assert access.allows("ingest", ("ingest",)) and not access.allows("ingest", ("read",))
    assert not access.allows(None, ("ingest", "read"))  # a key without a scope calls nothing
    assert not access.allows("owner", ("ingest", "read"))


def test_a_refusal_names_the_scope_held_and_the_scopes_needed() -> None:
    assert (
        access.refusal("ingest", ("read",)) == "this key's scope is 'ingest'; this route needs a key of scope 'read' or 'admin'"
    )
    assert access.refusal(None, ()) == "this key has no scope; this route needs a key of scope 'admin'"
