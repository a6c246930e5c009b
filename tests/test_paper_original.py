"""The model reads the original: the PDF as a cached document block (API), page images (client sampling),
paper.pdf and page resources (handoff); and only the paper's body in the prompt."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from mcp import Client
from mcp.types import BlobResourceContents, CreateMessageRequestParams, ImageContent

from papercoder_mcp.errors import BudgetExceeded
from papercoder_mcp.paper.models import Block, Paper, Section
from papercoder_mcp.paper.pages import MAX_PAGE_IMAGES
from papercoder_mcp.pipeline.budget import Budget
from papercoder_mcp.pipeline.estimate import estimate_run
from papercoder_mcp.pipeline.ingest import ingest_paper, store_paper
from papercoder_mcp.pipeline.originals import original_info, with_document_data
from papercoder_mcp.samplers.anthropic import AnthropicSampler
from papercoder_mcp.samplers.base import PDF_TOKENS_PER_PAGE
from papercoder_mcp.server.build import build_server
from papercoder_mcp.stages import STAGES, StageContext, run_stage
from papercoder_mcp.stages.base import estimate_request_cost
from papercoder_mcp.store import Store, canonical_hash

from fake_anthropic import PDF_PAGE_TOKENS, FakeAnthropic
from fake_model import FakeSampler, fake_model_responder
from mcp_helpers import ModelCallback
from pdf_fixtures import two_column_paper


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    return two_column_paper(tmp_path / "paper.pdf")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "originals.db")


class TestStoredOnce:
    def test_ingest_keeps_the_pdf_bytes_once(self, store: Store, pdf: Path) -> None:
        run, paper = ingest_paper(store, pdf)
        history = store.history(run.id, "original", "pdf")
        assert len(history) == 1
        assert base64.b64decode(history[0].content) == pdf.read_bytes()
        info = original_info(store, run.id)
        assert info is not None and info.pages == paper.page_count == 3 and info.filename == "paper.pdf"

    def test_a_markdown_paper_has_no_original_and_no_document(self, store: Store, tmp_path: Path) -> None:
        md = tmp_path / "paper.md"
        md.write_text("# A Paper\n\n## 1 Method\n\nWe do things.\n")
        run, _ = ingest_paper(store, md)
        assert original_info(store, run.id) is None
        prepared = STAGES["make_plan"].prepare(StageContext(store=store, run_id=run.id))
        assert prepared.request.documents == []
        # The input hash is what it was before documents existed: old runs stay fresh.
        fields = prepared.request.model_dump(include={"system", "prefix", "prompt", "output_schema"})
        assert prepared.input_hash == canonical_hash(fields)


class TestAnthropicDocument:
    @pytest.mark.anyio
    async def test_the_request_carries_the_pdf_in_the_cached_prefix(self, store: Store, pdf: Path) -> None:
        run, paper = ingest_paper(store, pdf)
        with FakeAnthropic(fake_model_responder()) as fake:
            async with AnthropicSampler(api_key="test", base_url=fake.base_url, backoff_base=0.01) as sampler:
                ctx = StageContext(store=store, run_id=run.id, sampler=sampler)
                await run_stage(STAGES["make_plan"], ctx)
                await run_stage(STAGES["make_plan"], ctx, force=True)  # the same prefix again
                await run_stage(STAGES["design_architecture"], ctx)
        first, again, second = (r["messages"][0]["content"] for r in fake.requests)
        doc = first[0]
        assert doc["type"] == "document"
        assert doc["source"]["media_type"] == "application/pdf" and doc["source"]["type"] == "base64"
        assert base64.b64decode(doc["source"]["data"]) == pdf.read_bytes()
        # The Markdown text stays after it (stages select sections by its headings).
        assert first[1]["type"] == "text" and "## 1 Introduction" in first[1]["text"]
        assert first[1].get("cache_control") == {"type": "ephemeral"}  # prefix = document + paper
        assert second[0]["type"] == "document" and second[2].get("cache_control")
        assert [d["pages"] for d in fake.documents] == [3, 3, 3]
        # The repeated call read the document from the cache the first one wrote.
        calls = store.calls(run.id)
        assert again == first
        assert calls[0].cache_write_tokens >= 3 * PDF_PAGE_TOKENS
        assert calls[1].cache_read_tokens >= 3 * PDF_PAGE_TOKENS
        assert paper.title in doc.get("title", "")

    def test_a_sampler_that_cannot_read_documents_gets_no_bytes(self, store: Store, pdf: Path) -> None:
        run, _ = ingest_paper(store, pdf)
        prepared = STAGES["make_plan"].prepare(StageContext(store=store, run_id=run.id))
        assert prepared.request.documents and not prepared.request.documents[0].data  # bytes are not kept
        # Metadata stays (page images, resource names); the bytes never reach such a sampler.
        kept = with_document_data(store, run.id, prepared.request, False).documents
        assert kept and all(not d.data for d in kept)
        sent = with_document_data(store, run.id, prepared.request, True).documents
        assert base64.b64decode(sent[0].data) == pdf.read_bytes()

    @pytest.mark.anyio
    async def test_the_scripted_sampler_sees_no_document(self, store: Store, pdf: Path) -> None:
        run, _ = ingest_paper(store, pdf)
        sampler = FakeSampler()
        await run_stage(STAGES["make_plan"], StageContext(store=store, run_id=run.id, sampler=sampler))
        assert all(not d.data for d in sampler.history[0].documents)  # no bytes

    def test_the_budget_reserves_the_document_pages(self, store: Store, pdf: Path) -> None:
        run, _ = ingest_paper(store, pdf)
        request = STAGES["make_plan"].prepare(StageContext(store=store, run_id=run.id)).request
        sampler = AnthropicSampler(api_key="test", base_url="http://127.0.0.1:9")
        text_only = estimate_request_cost(sampler, request)
        with_pdf = estimate_request_cost(sampler, with_document_data(store, run.id, request, True))
        from papercoder_mcp.samplers.pricing import estimate_cost

        extra = estimate_cost(sampler.model, 3 * PDF_TOKENS_PER_PAGE, 0)
        # The document is billed again on every attempt a cut answer may take (max_tokens regrowth).
        attempts = len(sampler.billable_outputs(request))
        assert text_only is not None and with_pdf is not None
        assert extra is not None and with_pdf == pytest.approx(text_only + attempts * extra, rel=0.02)
        Budget(max_usd=(text_only + with_pdf) / 2).reserve(text_only, "text only")  # fits
        with pytest.raises(BudgetExceeded):  # the same budget cannot take the PDF too
            Budget(max_usd=(text_only + with_pdf) / 2).reserve(with_pdf, "with the PDF")

    def test_the_dry_run_counts_the_pdf_pages(self, pdf: Path, store: Store) -> None:
        _, paper = ingest_paper(store, pdf)
        with_pdf = estimate_run(paper, "claude-sonnet-5-5")
        text_only = estimate_run(paper, "claude-sonnet-5-5", pdf_pages=0)
        assert with_pdf.pdf_pages == 3
        plan_with, plan_without = with_pdf.calls[0], text_only.calls[0]
        assert plan_with.input_tokens - plan_without.input_tokens == 3 * PDF_TOKENS_PER_PAGE
        assert (with_pdf.total_usd or 0) > (text_only.total_usd or 0)


class TestHandoffAndSampling:
    @pytest.mark.anyio
    async def test_handoff_names_the_pdf_and_page_images_and_they_read_back(
        self, store: Store, pdf: Path
    ) -> None:
        async with Client(build_server(store, sampler="handoff"), raise_exceptions=True) as client:
            started = await client.call_tool("parse_paper", {"path": str(pdf)})
            run_id = started.structured_content["run_id"]  # type: ignore[index]
            result = await client.call_tool("make_plan", {"run_id": run_id})
            handoff = result.structured_content["handoff"]  # type: ignore[index]
            uris = handoff["context_resources"]
            base = f"papercoder://runs/{run_id}"
            assert uris[:2] == [f"{base}/paper", f"{base}/paper.pdf"]
            pages = [u for u in uris if "/pages/" in u]
            assert pages == [
                f"{base}/pages/1.png",
                f"{base}/pages/2.png",
            ]  # the table, figure, equation pages

            blob = (await client.read_resource(f"{base}/paper.pdf")).contents[0]
            assert isinstance(blob, BlobResourceContents) and blob.mime_type == "application/pdf"
            assert base64.b64decode(blob.blob) == pdf.read_bytes()
            for uri in pages:
                image = (await client.read_resource(uri)).contents[0]
                assert isinstance(image, BlobResourceContents) and image.mime_type == "image/png"
                assert base64.b64decode(image.blob).startswith(b"\x89PNG\r\n\x1a\n")

            inline = await client.call_tool("make_plan", {"run_id": run_id, "include_context": True})
            # Inlined text cannot carry the PDF; it is still named.
            assert inline.structured_content["handoff"]["context_resources"] == uris[1:4]  # type: ignore[index]
            templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
            assert "papercoder://runs/{run_id}/pages/{n}.png" in templates

    @pytest.mark.anyio
    async def test_a_page_past_the_end_is_a_clear_error(self, store: Store, pdf: Path) -> None:
        run, _ = ingest_paper(store, pdf)
        async with Client(build_server(store, sampler="handoff")) as client:
            with pytest.raises(Exception, match="pages 1-3; there is no page 9"):
                await client.read_resource(f"papercoder://runs/{run.id}/pages/9.png")
            with pytest.raises(Exception, match="no original PDF"):
                md_run = store.create_run(title="md")
                store_paper(store, md_run.id, Paper(title="md", source_format="markdown"))
                await client.read_resource(f"papercoder://runs/{md_run.id}/paper.pdf")

    @pytest.mark.anyio
    async def test_client_sampling_attaches_the_key_pages_as_images(self, store: Store, pdf: Path) -> None:
        callback = ModelCallback()
        async with Client(build_server(store), sampling_callback=callback) as client:
            started = await client.call_tool("parse_paper", {"path": str(pdf)})
            run_id = started.structured_content["run_id"]  # type: ignore[index]
            done = await client.call_tool("make_plan", {"run_id": run_id})
            assert done.structured_content["status"] == "done"  # type: ignore[index]
        params: CreateMessageRequestParams = callback.asked[0]
        blocks = params.messages[0].content_as_list
        images = [b for b in blocks if isinstance(b, ImageContent)]
        assert 1 <= len(images) <= MAX_PAGE_IMAGES
        assert all(i.mime_type == "image/png" and base64.b64decode(i.data)[:4] == b"\x89PNG" for i in images)
        assert "Pages 1, 2 of the original PDF" in blocks[0].text  # type: ignore[union-attr]

    @pytest.mark.anyio
    async def test_run_pipeline_rounds_carry_the_images_too(self, store: Store, pdf: Path) -> None:
        callback = ModelCallback()
        async with Client(build_server(store), sampling_callback=callback) as client:
            started = await client.call_tool("parse_paper", {"path": str(pdf)})
            run_id = started.structured_content["run_id"]  # type: ignore[index]
            for _ in range(3):
                result = await client.call_tool("run_pipeline", {"run_id": run_id})
                if result.structured_content["status"] == "verified":  # type: ignore[index]
                    break
        assert result.structured_content["status"] == "verified"  # type: ignore[index]
        with_images = [
            p
            for p in callback.asked
            if any(isinstance(b, ImageContent) for b in p.messages[0].content_as_list)
        ]
        assert len(with_images) == len(callback.asked) >= 10  # every step's first ask shows the pages

    @pytest.mark.anyio
    async def test_images_can_be_turned_off(
        self, store: Store, pdf: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PAPERCODER_SAMPLING_IMAGES", "0")
        callback = ModelCallback()
        async with Client(build_server(store), sampling_callback=callback) as client:
            started = await client.call_tool("parse_paper", {"path": str(pdf)})
            await client.call_tool("make_plan", {"run_id": started.structured_content["run_id"]})  # type: ignore[index]
        assert not any(isinstance(b, ImageContent) for b in callback.asked[0].messages[0].content_as_list)


def checklist_paper() -> Paper:
    para = [Block(kind="paragraph", text="We train with learning rate 3e-4.")]
    return Paper(
        title="A Paper With Back Matter",
        abstract="We do a thing.",
        sections=[
            Section(title="Method", number="1", blocks=para),
            Section(
                title="Appendix",
                number="A",
                children=[
                    Section(title="Hyperparameters", number="A.1", level=2, blocks=para),
                    Section(
                        title="Broader Impacts",
                        number="A.2",
                        level=2,
                        blocks=[Block(kind="paragraph", text="IMPACT-TEXT")],
                    ),
                ],
            ),
            Section(title="Acknowledgements", blocks=[Block(kind="paragraph", text="THANKS-TEXT")]),
            Section(
                title="NeurIPS Paper Checklist",
                blocks=[Block(kind="paragraph", text="1. Claims. Answer: [Yes] CHECKLIST-TEXT")],
                children=[
                    Section(title="Limitations", level=2, blocks=[Block(kind="paragraph", text="LIMITS")])
                ],
            ),
        ],
        references=["[1] REFERENCE-TEXT"],
        source_format="markdown",
    )


class TestOnlyThePaperInThePrompt:
    def test_back_matter_is_left_out_of_the_prefix_but_kept_in_the_paper(self, store: Store) -> None:
        paper = checklist_paper()
        run = store.create_run(title=paper.title)
        art = store_paper(store, run.id, paper)
        prefix = STAGES["make_plan"].prepare(StageContext(store=store, run_id=run.id)).request.prefix[0]
        for gone in ("THANKS-TEXT", "CHECKLIST-TEXT", "LIMITS", "IMPACT-TEXT", "REFERENCE-TEXT"):
            assert gone not in prefix
            assert gone in paper.to_markdown()
        assert "3e-4" in prefix and "A.1 Hyperparameters" in prefix
        assert art.metadata["left_out_of_prompt"] == [
            "References (1 entries)",
            "A.2 Broader Impacts",
            "Acknowledgements",
            "NeurIPS Paper Checklist",
        ]
        assert art.metadata["prompt_tokens"] < art.metadata["tokens_without_references"]

    def test_the_parse_warnings_say_what_was_left_out(self, tmp_path: Path) -> None:
        from papercoder_mcp.paper import parse_document

        md = tmp_path / "p.md"
        md.write_text(
            "# P\n\n## 1 Method\n\nText.\n\n## Acknowledgments\n\nThanks.\n\n## NeurIPS Paper Checklist\n\n1. Claims\n"
        )
        paper = parse_document(md)
        assert any(
            w == "left out of the prompts, kept in the stored paper: Acknowledgments; NeurIPS Paper Checklist"
            for w in paper.warnings
        )


def test_the_document_can_be_turned_off(store: Store, pdf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run, paper = ingest_paper(store, pdf)
    with_pdf = STAGES["make_plan"].prepare(StageContext(store=store, run_id=run.id))
    monkeypatch.setenv("PAPERCODER_PDF_DOCUMENT", "0")
    without = STAGES["make_plan"].prepare(StageContext(store=store, run_id=run.id))
    assert with_pdf.request.documents and without.request.documents == []
    assert with_pdf.input_hash == without.input_hash  # switching it does not make finished steps stale
    assert estimate_run(paper, "claude-sonnet-5-5").pdf_pages == 0


@pytest.mark.anyio
async def test_the_fake_api_refuses_a_document_that_is_not_a_pdf() -> None:
    from papercoder_mcp.samplers.base import Document, SampleRequest
    from papercoder_mcp.samplers.retry import SamplerFailed

    bogus = Document(sha256="x", pages=1, data=base64.b64encode(b"not a pdf").decode())
    request = SampleRequest(stage="make_plan", system="s", prefix=["paper"], documents=[bogus], prompt="p")
    with FakeAnthropic() as fake:
        async with AnthropicSampler(api_key="test", base_url=fake.base_url) as sampler:
            with pytest.raises(SamplerFailed, match="HTTP 400.*The PDF specified was not valid"):
                await sampler.sample(request)
        assert fake.documents == []
