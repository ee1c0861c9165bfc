"""The observation plane: metric names (catalogue), the lakegate exporter, dashboards, ``lakegate status``."""
