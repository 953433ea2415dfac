"""Solvers: one small class per (paradigm, method), found through :func:`get_method`."""

from .base import DEFAULT_METHOD, METHODS, OBJECTIVES, PARADIGMS, Method, Outcome, get_method, method_available, register

__all__ = ["DEFAULT_METHOD", "METHODS", "OBJECTIVES", "PARADIGMS", "Method", "Outcome", "get_method", "method_available",
           "register"]
