"""Unit tests of udfs and lakegate.testing: pure Python, no JVM, no network beyond loopback."""
