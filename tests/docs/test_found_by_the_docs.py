"""Bugs that running the tutorials exposed, fixed in src/ and pinned here (issue 17, item 5)."""

from __future__ import annotations

import asyncio
import json
import re
import socket

from modelledger.serving.cli.serve import listen_on
from tests.conftest import write


def test_the_server_socket_gives_its_connections_tcp_nodelay() -> None:
    # asyncio turns Nagle off only for sockets made with proto IPPROTO_TCP; with it on, every
    # answer on a kept-alive connection waited for the client's delayed ACK (S10's traffic)
    sock = listen_on("127.0.0.1", 0)
    seen: list[int] = []

    class Record(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            conn = transport.get_extra_info("socket")
            seen.append(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Record, sock=sock)
        async with server:
            port = sock.getsockname()[1]
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.05)
            writer.close()

    asyncio.run(main())
    assert seen and seen[0] != 0


def test_env_at_before_the_environment_existed_says_times_as_everywhere_else(cli) -> None:
    cli("init")
    cli("env", "create", "production")
    err = cli("env", "at", "production", "2000-01-01", code=2).stderr.strip()
    assert re.fullmatch(
        r"error: production did not exist at 2000-01-01T00:00:00Z: "
        r"it was created at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
        err,
    ), err


def test_data_affected_lists_models_by_name_and_number_not_by_id(cli, project) -> None:
    cli("init")
    write(project / "data" / "rows.csv", "customer_id,x\nC-1,1\nC-2,2\n")
    snap = json.loads(cli("data", "snapshot", "data", "--name", "rows", "--json").stdout)["id"]
    for n in range(1, 11):  # ten versions: their ids are in label order one time in 10!
        art = write(project / f"m{n}.bin", f"weights {n}")
        cli("model", "register", "m", "-a", str(art), "--data", f"{snap}:train")
    found = json.loads(cli("data", "affected", "--record", "customer_id=C-1", "--json").stdout)
    assert [m["label"] for m in found["models"]] == [f"m@{n}" for n in range(1, 11)]
