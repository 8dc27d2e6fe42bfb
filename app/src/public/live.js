// Live updates of a table through server-sent events (the relay's settled requests): a row per digest,
// replaced when its request settles, new ones on top.
(function () {
  var table = document.querySelector('table[data-live]');
  if (!table || !window.EventSource) return;
  var body = table.tBodies[0];
  var cell = function (text, cls) {
    var td = document.createElement('td');
    if (cls) td.className = cls;
    td.textContent = text;
    return td;
  };
  new EventSource(table.getAttribute('data-live')).addEventListener('settled', function (e) {
    var r = JSON.parse(e.data);
    var row = document.createElement('tr');
    row.setAttribute('data-digest', r.digest);
    var digest = cell(r.digest.slice(0, 16) + '…', 'mono small');
    digest.title = r.digest;
    row.append(digest, cell(r.target, 'mono'), cell(r.state), cell(r.blockNumber == null ? '—' : String(r.blockNumber)), cell(r.callback ? r.callback.state + ' ×' + r.callback.attempts : '—', 'small'));
    var old = body.querySelector('tr[data-digest="' + r.digest + '"]');
    if (old) old.replaceWith(row);
    else body.insertBefore(row, body.firstChild);
  });
})();
