// Latent maps: name the frame under the cursor (data in each .map's data-points).
document.querySelectorAll('.map').forEach(function (map) {
  var d = JSON.parse(map.dataset.points), img = map.querySelector('img'),
      tip = map.querySelector('.tip');
  function nearest(ev) {
    var r = img.getBoundingClientRect(), best = null, limit = 8 * 8;
    var fx = (ev.clientX - r.left) / r.width, fy = (ev.clientY - r.top) / r.height;
    var a = d.axes, sx = r.width * (a[2] - a[0]), sy = r.height * (a[3] - a[1]);
    d.points.forEach(function (p) {
      var px = (a[0] + (p[0] - d.xlim[0]) / (d.xlim[1] - d.xlim[0]) * (a[2] - a[0])) * r.width,
          py = (a[1] + (d.ylim[1] - p[1]) / (d.ylim[1] - d.ylim[0]) * (a[3] - a[1])) * r.height,
          dd = Math.pow(px - fx * r.width, 2) + Math.pow(py - fy * r.height, 2);
      if (dd < limit) { limit = dd; best = [p, px, py]; }
    });
    return sx > 0 && sy > 0 ? best : null;
  }
  map.addEventListener('mousemove', function (ev) {
    var hit = nearest(ev);
    if (!hit) { tip.hidden = true; return; }
    var p = hit[0];
    tip.textContent = 'frame ' + p[2] + '\nE − E_min ' + p[3].toFixed(2) + ' kcal/mol\nerror ' +
      (p[4] >= 0 ? '+' : '') + p[4].toFixed(2) + ' kcal/mol';
    tip.hidden = false;  // above the point, kept inside the map
    var w = tip.offsetWidth, width = map.clientWidth;
    tip.style.left = Math.max(0, Math.min(width - w, hit[1] - w / 2)) + 'px';
    tip.style.top = Math.max(0, hit[2] - tip.offsetHeight - 8) + 'px';
  });
  map.addEventListener('mouseleave', function () { tip.hidden = true; });
});
