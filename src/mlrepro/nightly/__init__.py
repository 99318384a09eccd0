"""The nightly report: one audit (and reproductions) a night, kept as JSON in a history folder
and rendered as one self-contained HTML page with trends (``mlrepro report``)."""
