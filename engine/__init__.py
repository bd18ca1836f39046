"""Exitflow: an event-sourced Argo-style workflow engine whose exit handlers always run."""

__version__ = "0.1.0"
