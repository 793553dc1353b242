"""API keys on a real PostgreSQL: creation, lookup, revocation, and the `keys` CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from maskgate.auth.keys import Scope, generate_key, hash_key, key_prefix, parse_scopes
from maskgate.auth.repository import (
    create_api_key,
    find_active_keys_by_prefix,
    find_api_key,
    get_or_create_tenant,
    revoke_api_key,
)
from maskgate.cli.main import main
from maskgate.db.embedded import EmbeddedPostgres
from maskgate.db.engine import make_engine
from maskgate.db.models import AuditEvent, Gallery, Tenant


def test_keys_are_random_urlsafe_and_hashed_whole() -> None:
    keys = {generate_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert re.fullmatch(r"mg_[A-Za-z0-9_-]{43}", key)
    key = generate_key()
    assert key_prefix(key) == key[:8]
    assert re.fullmatch(r"[0-9a-f]{64}", hash_key(key))
    assert hash_key(key) != hash_key(key[:-1] + ("A" if key[-1] != "A" else "B"))


def test_parse_scopes() -> None:
    assert parse_scopes("verify, enrol,verify") == [Scope.ENROL, Scope.VERIFY]
    assert parse_scopes(["admin"]) == [Scope.ADMIN]
    with pytest.raises(ValueError, match="unknown scope.*root"):
        parse_scopes("verify,root")
    with pytest.raises(ValueError, match="no scope"):
        parse_scopes(" , ")


def test_a_tenant_is_created_once_with_a_default_gallery(db_engine: Engine) -> None:
    with Session(db_engine) as session:
        first = get_or_create_tenant(session, "acme")
        assert get_or_create_tenant(session, "acme").id == first.id
        session.commit()
        galleries = session.scalars(select(Gallery.name).where(Gallery.tenant_id == first.id))
        assert galleries.all() == ["default"]


def test_create_find_and_revoke(db_engine: Engine) -> None:
    with Session(db_engine) as session:
        tenant = get_or_create_tenant(session, "acme")
        api_key, plaintext = create_api_key(session, tenant, ["verify", "enrol"], "kiosk")
        other, other_plaintext = create_api_key(session, tenant, [Scope.ADMIN])
        session.commit()
        assert api_key.scopes == ["enrol", "verify"]
        assert plaintext not in (api_key.key_hash, api_key.prefix)
    with Session(db_engine) as session:
        found = find_api_key(session, plaintext)
        assert found is not None
        assert (found.id, found.tenant.name, found.name) == (api_key.id, "acme", "kiosk")
        assert found.revoked_at is None
        tampered = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
        assert find_api_key(session, tampered) is None  # same prefix, wrong key
        assert find_api_key(session, generate_key()) is None
        assert find_api_key(session, "") is None
        assert find_api_key(session, hash_key(plaintext)) is None
        revoke_api_key(session, found)
        session.commit()
    with Session(db_engine) as session:
        assert find_api_key(session, plaintext) is None
        assert find_active_keys_by_prefix(session, api_key.prefix) == []
        assert find_api_key(session, other_plaintext) is not None  # the other key still works


def test_an_unknown_scope_is_refused(db_engine: Engine) -> None:
    with Session(db_engine) as session:
        tenant = get_or_create_tenant(session, "acme")
        with pytest.raises(ValueError, match="unknown scope"):
            create_api_key(session, tenant, ["superuser"])


def last_line(text: str) -> str:
    return text.splitlines()[-1]


def test_keys_cli_prints_the_key_alone_on_the_last_stdout_line(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MASKGATE_DATABASE__URL", db_url)
    argv = ["keys", "create", "--tenant", "acme", "--scopes", "identify,verify", "--name", "gate"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    key = last_line(out)
    assert out == key + "\n"
    assert key_prefix(key) in err
    assert "acme" in err
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            found = find_api_key(session, key)
            assert found is not None
            assert (found.tenant.name, found.scopes) == ("acme", ["verify", "identify"])
            actions = session.scalars(select(AuditEvent.action)).all()
            assert actions == ["api_key.create"]
        assert main(["keys", "revoke", key_prefix(key)]) == 0
        assert "revoked" in capsys.readouterr().err
        assert main(["keys", "revoke", key_prefix(key)]) == 1
        assert "no active key" in capsys.readouterr().err
        with Session(engine) as session:
            assert find_api_key(session, key) is None
            assert session.scalar(select(func.count()).select_from(Tenant)) == 1
    finally:
        engine.dispose()


def test_keys_cli_refuses_an_unknown_scope(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MASKGATE_DATABASE__URL", "postgresql://nowhere.invalid/x")
    with pytest.raises(SystemExit) as exit_:
        main(["keys", "create", "--tenant", "acme", "--scopes", "verify,root"])
    assert exit_.value.code == 2
    assert "unknown scope(s) root" in capsys.readouterr().err


def test_keys_create_in_another_process_attaches_to_the_running_embedded_server(
    embedded_data_dir: Path,
) -> None:
    data_dir = embedded_data_dir
    holder = EmbeddedPostgres()
    url = holder.start(data_dir)
    postmaster = (data_dir / "postmaster.pid").read_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASKGATE_DATABASE__")}
    env["MASKGATE_DATABASE__DATA_DIR"] = str(data_dir)
    command = [sys.executable, "-m", "maskgate.cli.main", "keys", "create", "--tenant", "t"]
    try:
        done = subprocess.run(
            [*command, "--scopes", "admin"], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        key = last_line(done.stdout)
        # The same server still runs: the attached process left it alone.
        assert (data_dir / "postmaster.pid").read_text() == postmaster
        engine = make_engine(url)
        try:
            with Session(engine) as session:
                assert find_api_key(session, key) is not None
        finally:
            engine.dispose()
    finally:
        holder.stop()
    assert not (data_dir / "postmaster.pid").exists()
