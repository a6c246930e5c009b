"""Drive `papercoder-mcp serve` from a shell, as an agent with no API key would (handoff mode).

Each invocation starts the installed server over stdio with the real MCP client, makes one call and
prints what an agent would see. Handoff ids carry everything, so calls in separate processes chain up
on the same store. Used to measure output quality with a person or a helper session acting as the model.

    python bench/handoff_client.py --db run.db call parse_paper '{"path": "paper.pdf"}'
    python bench/handoff_client.py --db run.db call run_pipeline '{"run_id": "run-..."}'
    python bench/handoff_client.py --db run.db read papercoder://runs/run-.../paper
    python bench/handoff_client.py --db run.db --save pages read papercoder://runs/run-.../pages/3.png   # a PNG file
    python bench/handoff_client.py --db run.db submit HANDOFF_ID answer.md
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

SCRIPT = Path(sys.executable).parent / "papercoder-mcp"


def _env() -> dict[str, str]:
    # The agent has no key: nothing from ANTHROPIC_* may reach the server.
    return {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}


def _show(result: Any) -> str:
    if result.structured_content:
        body: Any = result.structured_content
    else:
        body = [getattr(c, "text", repr(c)) for c in result.content]
    text = json.dumps(body, indent=2, ensure_ascii=False) if not isinstance(body, str) else body
    return ("ERROR: " if result.is_error else "") + text


async def main(args: argparse.Namespace) -> None:
    params = StdioServerParameters(
        command=str(SCRIPT), args=["--db", str(args.db), "serve", "--sampler", "handoff"], env=_env()
    )
    async with Client(params) as client:
        if args.verb == "call":
            arguments = json.loads(args.rest[1]) if len(args.rest) > 1 else {}
            print(_show(await client.call_tool(args.rest[0], arguments)))
        elif args.verb == "submit":
            content = Path(args.rest[1]).read_text(encoding="utf-8")
            print(
                _show(
                    await client.call_tool(
                        "submit_artifact", {"handoff_id": args.rest[0], "content": content}
                    )
                )
            )
        elif args.verb == "read":
            res = await client.read_resource(args.rest[0])
            for i, part in enumerate(res.contents):
                text = getattr(part, "text", None)
                if text is not None:
                    print(text)
                    continue
                # A page image or the PDF: written to a file, so an agent can look at it.
                suffix = {"image/png": ".png", "application/pdf": ".pdf"}.get(part.mime_type or "", ".bin")
                out = args.save / f"{args.rest[0].rstrip('/').rsplit('/', 1)[-1]}-{i}{suffix}"
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(base64.b64decode(getattr(part, "blob", "")))
                print(f"<{part.mime_type} written to {out}>")
        elif args.verb == "tools":
            # Each tool with its whole description and its arguments (an enum's values too): an agent
            # guessing `kind: "file"` for edit_artifact had only seen the first line.
            for tool in (await client.list_tools()).tools:
                print(f"## {tool.name}\n{tool.description or ''}")
                required = set(tool.input_schema.get("required", []))
                for name, prop in tool.input_schema.get("properties", {}).items():
                    choices = f" one of {prop['enum']}" if "enum" in prop else ""
                    need = "" if name in required else " (optional)"
                    print(f"- {name}{need}:{choices} {prop.get('description', '')}".rstrip())
                print()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--save", type=Path, default=Path("handoff-files"), help="where `read` writes images")
    parser.add_argument("verb", choices=["call", "submit", "read", "tools"])
    parser.add_argument("rest", nargs="*")
    parsed = parser.parse_args()
    if parsed.verb == "submit" and (len(parsed.rest) != 2 or not Path(parsed.rest[1]).is_file()):
        # Before the server starts: a missing answer file was an ExceptionGroup traceback.
        parser.error("submit takes HANDOFF_ID ANSWER_FILE, and the answer file must exist")
    if parsed.verb in ("call", "read") and not parsed.rest:
        parser.error(f"{parsed.verb} needs a {'tool name' if parsed.verb == 'call' else 'resource URI'}")
    anyio.run(main, parsed)
