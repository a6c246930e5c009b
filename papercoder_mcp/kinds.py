"""The one registry of artifact kinds: what each kind is called, where its resource lives, how it is keyed.

Stages name their kind (`Stage.kind`); the store, the resources, `get_run` and the
change notifications look kinds up here instead of keeping their own string tables.
"""

from __future__ import annotations

from pydantic import BaseModel


class Kind(BaseModel):
    name: str
    uri_segment: str = ""
    per_key: bool = False
    title: str = ""
    description: str = ""

    def uri(self, run_id: str, key: str = "") -> str:
        base = f"papercoder://runs/{run_id}/{self.uri_segment or self.name}"
        return f"{base}/{key}" if self.per_key else base


KINDS: dict[str, Kind] = {
    k.name: k
    for k in [
        Kind(name="paper", description="the parsed paper"),
        Kind(name="plan", title="overall plan", description="the overall implementation plan"),
        Kind(
            name="architecture",
            title="software architecture",
            description="files, class diagram, sequence diagram",
        ),
        Kind(
            name="file_order",
            title="file order",
            description="packages, per-file logic and dependencies, dependency order",
        ),
        Kind(name="config", title="config.yaml", description="config.yaml"),
        Kind(
            name="analysis",
            uri_segment="analysis",
            per_key=True,
            title="logic analysis",
            description="one file's analysis",
        ),
        Kind(name="code", uri_segment="files", per_key=True, description="one file's code"),
        Kind(name="requirements", description="requirements.txt with what verification added"),
        Kind(name="verification", description="the latest verification and what it checked"),
        Kind(name="critique", per_key=True, description="a refinement's critique of an artifact"),
        Kind(name="evaluation", per_key=True, description="evaluations of the repository"),
        Kind(name="answer", per_key=True, description="a client's answer to a sampling request, by request"),
        Kind(
            name="original",
            per_key=True,
            description="the paper as given, bytes in base64: key 'pdf' (the PDF), 'source' (an arXiv e-print)",
        ),
    ]
}


def kind(name: str) -> Kind:
    """The registered kind; an unknown name is a programming error, not user input."""
    return KINDS[name]


def artifact_uri(run_id: str, kind_name: str, key: str = "") -> str:
    registered = KINDS.get(kind_name) or Kind(name=kind_name, per_key=bool(key))
    return registered.uri(run_id, key)
