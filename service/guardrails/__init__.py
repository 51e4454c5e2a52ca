"""Guardrails: every draft and every typed reply checked before it can go out.

Rules are data (`knowledge/builtin/rules/*.yaml`, plus a pack's own `guardrails.yaml`);
each names a detector type registered in `service/guardrails/rules.py`. A block is a
result — a typed verdict with violations and spans — never an exception.
"""
