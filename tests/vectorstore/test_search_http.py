"""Search through the gateway: a labelled set found by vector, keyword and hybrid search, filters, scores,
errors, tenant isolation, and evaluation runs."""

import httpx
import pytest

from tests.vectorstore.helpers import collection, ingested, user

# (label, passage, question that paraphrases it)
LABELLED = [
    ("holidays", "Employees receive twenty-five days of paid annual leave, plus public holidays.",
     "How many days of paid leave do employees get?"),
    ("expenses", "Travel expenses are reimbursed when receipts are submitted within thirty days.",
     "When must receipts for travel expenses be submitted?"),
    ("security", "Passwords must be rotated every ninety days and never shared with colleagues.",
     "How often must passwords be rotated?"),
    ("kitchen", "The office kitchen is cleaned every Friday afternoon; please empty the fridge.",
     "When is the office kitchen cleaned?"),
    ("parking", "Bicycle parking is in the basement; car parking spaces must be booked in advance.",
     "Where can I park my bicycle?"),
    ("onboarding", "New hires meet their mentor on the first day and receive a laptop from IT.",
     "What do new hires receive on their first day?"),
    ("remote", "Remote work is allowed up to three days per week with the manager's approval.",
     "How many days per week can I work remotely?"),
    ("training", "Each employee has a yearly training budget of two thousand euros for courses.",
     "What is the yearly training budget for courses?"),
]


@pytest.fixture(scope="module")
async def handbook(gateway_url):
    """One organization's collection of the labelled passages, one document each."""
    async with httpx.AsyncClient(base_url=f"{gateway_url}/api/v1", timeout=30) as http:
        u = await user(http, "vs-search")
        c = await collection(http, u, "handbook")
        for label, passage, _ in LABELLED:
            await ingested(http, u, c["id"], passage, name=label, metadata={"topic": label,
                                                                           "public": label != "security"})
        return u, c


async def search(http, headers, collection_id: str, **body) -> dict:
    response = await http.post(f"/collections/{collection_id}:search", headers=headers, json=body)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("mode", ["SEARCH_MODE_VECTOR", "SEARCH_MODE_HYBRID", "SEARCH_MODE_KEYWORD"])
async def test_each_question_finds_its_passage_in_the_top_3(http, handbook, mode):
    u, c = handbook
    for label, _, question in LABELLED:
        # websearch syntax ANDs the words; a question's words are not all in its passage, so ask with "or".
        query = " or ".join(question.rstrip("?").split()) if mode == "SEARCH_MODE_KEYWORD" else question
        results = (await search(http, u, c["id"], query=query, mode=mode, top_k=3))["results"]
        assert label in [r["document_name"] for r in results], (mode, question, results)


async def test_results_carry_score_text_document_and_metadata_best_first(http, handbook):
    u, c = handbook
    found = await search(http, u, c["id"], query="paid annual leave", mode="SEARCH_MODE_VECTOR", top_k=8)
    results = found["results"]
    assert found["strategy"] == "exact" and len(results) == 8
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1.0
    top = results[0]
    assert top["document_name"] == "holidays" and "twenty-five days" in top["chunk"]["content"]
    assert top["chunk"]["metadata"]["topic"] == "holidays" and top["chunk"]["document_id"]
    high = await search(http, u, c["id"], query="paid annual leave", mode="SEARCH_MODE_VECTOR", top_k=8,
                        min_score=scores[0] - 1e-6)
    assert [r["document_name"] for r in high["results"]] == ["holidays"]


async def test_metadata_filter_is_jsonb_containment(http, handbook):
    u, c = handbook
    only = await search(http, u, c["id"], query="passwords rotated", top_k=5, filter={"topic": "kitchen"})
    assert [r["document_name"] for r in only["results"]] == ["kitchen"]
    public = await search(http, u, c["id"], query="passwords rotated", top_k=8, filter={"public": True})
    assert "security" not in [r["document_name"] for r in public["results"]] and len(public["results"]) == 7
    none = await search(http, u, c["id"], query="passwords", filter={"topic": "nothing"})
    assert none.get("results", []) == []


async def test_bad_search_requests_are_400(http, handbook):
    u, c = handbook
    for body in ({"query": ""}, {"query": "x", "top_k": 1000}, {"query": "x", "ef_search": 5000},
                 {"query": "x", "mode": 99}, {"query": "x" * 20_000}):
        response = await http.post(f"/collections/{c['id']}:search", headers=u, json=body)
        assert response.status_code == 400, (body, response.text)


async def test_another_organization_sees_404_and_never_gets_its_chunks(http, handbook):
    u, c = handbook
    stranger = await user(http, "vs-stranger")
    own = await collection(http, stranger, "mine")
    await ingested(http, stranger, own["id"], LABELLED[0][1], name="my-copy")
    document_id = (await http.get(f"/collections/{c['id']}/documents", headers=u)).json()["documents"][0]["id"]
    base = f"/collections/{c['id']}"
    attempts = [("GET", base, None), ("PATCH", base, {"name": "stolen"}), ("DELETE", base, None),
                ("GET", f"{base}/documents", None), ("GET", f"{base}/documents/{document_id}", None),
                ("GET", f"{base}/documents/{document_id}/chunks", None),
                ("POST", f"{base}/documents/{document_id}:reingest", {}),
                ("DELETE", f"{base}/documents/{document_id}", None), ("POST", f"{base}/documents", {"text": "x"}),
                ("POST", f"{base}:search", {"query": "leave"}), ("GET", f"{base}/evaluations", None),
                ("POST", f"{base}/evaluations", {"query": "q"}), ("GET", f"{base}/evaluations:summary", None),
                # the stranger's own collection id with the victim's document id
                ("GET", f"/collections/{own['id']}/documents/{document_id}", None)]
    for method, path, body in attempts:
        response = await http.request(method, path, headers=stranger, json=body)
        assert response.status_code == 404, (method, path, response.text)
    results = (await search(http, stranger, own["id"], query=LABELLED[0][2], top_k=10))["results"]
    assert {r["document_name"] for r in results} == {"my-copy"}
    listed = (await http.get("/collections", headers=stranger)).json()["collections"]
    assert [x["id"] for x in listed] == [own["id"]]
    # And the owner still has everything.
    assert (await http.get(base, headers=u)).json()["document_count"] == len(LABELLED)


async def test_evaluation_runs_are_recorded_listed_rated_and_summarised(http, handbook):
    u, c = handbook
    base = f"/collections/{c['id']}/evaluations"
    first = await http.post(base, headers=u, json={"query": "leave?", "response": "25 days", "latency_ms": 12.5,
                                                   "token_count": 40, "quality_score": 0.9,
                                                   "source_chunk_ids": ["a", "b"]})
    assert first.status_code == 200, first.text
    second = await http.post(base, headers=u, json={"query": "parking?", "latency_ms": 7.5, "token_count": 20})
    rated = await http.post(f"{base}/{first.json()['id']}:feedback", headers=u, json={"feedback": 1})
    assert rated.status_code == 200 and rated.json()["feedback"] == 1
    down = await http.post(f"{base}/{second.json()['id']}:feedback", headers=u, json={"feedback": -1})
    assert down.status_code == 200
    assert (await http.post(f"{base}/{second.json()['id']}:feedback", headers=u,
                            json={"feedback": 5})).status_code == 400
    assert (await http.post(base, headers=u, json={"query": "q", "quality_score": 2})).status_code == 400
    listed = (await http.get(base, headers=u, params={"page_size": 1})).json()
    assert len(listed["evaluations"]) == 1 and listed["next_page_token"]
    summary = (await http.get(f"{base}:summary", headers=u)).json()
    assert int(summary["run_count"]) >= 2 and int(summary["thumbs_up"]) >= 1 and int(summary["thumbs_down"]) >= 1
    assert summary["average_latency_ms"] > 0
