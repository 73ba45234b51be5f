"""Study: aggregating a study's runs into tables, figures, reports and LaTeX, and inspecting files."""
