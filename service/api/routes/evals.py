"""Golden-set evaluations over HTTP: start a run in the background, poll it until done."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.deps import EvalJobsDep, EvaluatorDep
from service.api.schemas import ErrorBody, EvalAccepted, EvalRequest, EvalRun

router = APIRouter(tags=["evaluation"])


@router.post(
    "/v1/evals",
    status_code=202,
    response_model=EvalAccepted,
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 403: {"model": ErrorBody},
               404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    summary="Start a golden-set evaluation in the background",
    description="Runs every case through the suggestion pipeline (the configured backend) and scores "
                "it as `huashu eval run` does. Inputs are checked first (400/404 at once); runs go one "
                "at a time. Reports are written under HUASHU_DATA_DIR/evals/{id}/.",
)
def start_eval(body: EvalRequest, jobs: EvalJobsDep, response: Response, principal: EvaluatorDep) -> EvalAccepted:
    job = jobs.submit(body.set_name, body.cases, baseline=body.baseline, judge=body.judge,
                      visible=principal.visible_shops())
    response.headers["location"] = f"/v1/evals/{job.id}"
    return EvalAccepted.model_validate(job.as_dict())


@router.get(
    "/v1/evals/{run_id}",
    response_model=EvalRun,
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}},
    summary="Status and progress of an evaluation; aggregates, verdict and per-case results when done",
)
def get_eval(run_id: str, jobs: EvalJobsDep, principal: EvaluatorDep) -> EvalRun:
    return EvalRun.model_validate(jobs.get(run_id, principal.visible_shops()).as_dict())
