"""Pure renderers, one module per report type: report -> text (colour passed in) and -> JSON dict."""
