"""The explorer's HTML page: chemiscope's viewer and the gzipped data, both embedded.

The page needs no server and no network: the viewer's JavaScript is inline, and the data
(the bytes of ``explorer.json.gz``, base64) is inflated with the browser's own
``DecompressionStream``. Once loaded, ``window.explorer.visualizer`` is chemiscope's
``DefaultVisualizer`` (``window.explorer.ready`` resolves to it), for scripts and tests.
"""

from __future__ import annotations

import base64
import html
from string import Template

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>$title</title>
<style>
html, body { margin: 0; height: 100%; font-family: system-ui, sans-serif; }
body { display: flex; flex-direction: column; }
#explorer-error { display: none; margin: 8px; padding: 8px; color: #a94442;
  background: #f2dede; border: 1px solid #d9534f; border-radius: 4px; }
#explorer-warning { display: none; margin: 8px; padding: 8px; color: #8a6d3b;
  background: #fcf8e3; border: 1px solid #f0ad4e; border-radius: 4px; }
#explorer-main { flex: 1; min-height: 0; display: flex; gap: 8px; padding: 8px; }
#explorer-left { flex: 3; min-width: 0; display: flex; flex-direction: column; }
#explorer-map { flex: 1; min-height: 0; position: relative; }
#explorer-right { flex: 2; min-width: 0; display: flex; flex-direction: column; }
#explorer-structure { flex: 1; min-height: 0; position: relative; }
#explorer-info { flex-shrink: 0; }
</style>
</head>
<body>
<div id="explorer-error"></div>
<div id="explorer-warning"></div>
<div id="explorer-main">
  <div id="explorer-left"><div id="explorer-meta"></div><div id="explorer-map"></div></div>
  <div id="explorer-right"><div id="explorer-structure"></div><div id="explorer-info"></div></div>
</div>
<script>$viewer</script>
<script type="application/octet-stream" id="explorer-data">$data</script>
<script>
window.explorer = { visualizer: null };
function explorerShow(id, text) {
  var box = document.getElementById(id);
  box.textContent = text;
  box.style.display = 'block';
}
async function explorerDataset() {
  var text = document.getElementById('explorer-data').textContent.trim();
  var bytes = Uint8Array.from(atob(text), function (c) { return c.charCodeAt(0); });
  var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  return JSON.parse(await new Response(stream).text());
}
window.explorer.ready = (async function () {
  try {
    var dataset = await explorerDataset();
    var warnings = new Chemiscope.Warnings();
    warnings.addHandler(function (message) { explorerShow('explorer-warning', message); });
    var config = { map: 'explorer-map', info: 'explorer-info', meta: 'explorer-meta',
                   structure: 'explorer-structure' };
    window.explorer.visualizer = await Chemiscope.DefaultVisualizer.load(config, dataset, warnings);
    return window.explorer.visualizer;
  } catch (error) {
    console.error(error);
    explorerShow('explorer-error', 'The explorer could not load: ' + error);
    throw error;
  }
})();
</script>
</body>
</html>
""")


def explorer_html(payload: bytes, title: str, viewer_js: str) -> str:
    """The page showing ``payload`` (a gzipped chemiscope input) with ``viewer_js``."""
    # a script element ends at the first "</script"; the viewer must not contain one
    safe_js = viewer_js.replace("</script", "<\\/script")
    return PAGE.substitute(title=html.escape(title), viewer=safe_js,
                           data=base64.b64encode(payload).decode("ascii"))
