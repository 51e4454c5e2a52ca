"""Small dependencies, swapped in tests with `app.dependency_overrides`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.config import Settings
from service.container import Services
from service.evaluation.jobs import EvalJobs
from service.retrieval.hybrid import HybridRetriever


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_settings(services: Annotated[Services, Depends(get_services)]) -> Settings:
    return services.settings


def get_retriever(services: Annotated[Services, Depends(get_services)]) -> HybridRetriever:
    return services.retriever


def get_eval_jobs(request: Request) -> EvalJobs:
    jobs: EvalJobs = request.app.state.eval_jobs
    return jobs


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RetrieverDep = Annotated[HybridRetriever, Depends(get_retriever)]
EvalJobsDep = Annotated[EvalJobs, Depends(get_eval_jobs)]
