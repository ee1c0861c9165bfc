"""Reusable testing support: a pytest plugin (fixtures for a real broker, registry, Iceberg catalog and a job
runner), lakes of a test's own on them, readers for the audit log and the dead-letter topic, and bad-record
makers.

Product teams use it to test their own contracts: ``pip install lakegate`` registers the plugin.
"""
