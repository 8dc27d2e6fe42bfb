// A form with data-confirm asks before it is sent (the Content-Security-Policy allows no inline event handlers).
document.addEventListener('submit', function (e) {
  var form = e.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) e.preventDefault();
});
