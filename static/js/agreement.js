// The agreement page's pair picker: choosing "a,b" fills the hidden a and b inputs
// and shows that pair (without JavaScript the <noscript> button submits).
(function () {
  "use strict";

  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!(select instanceof HTMLSelectElement) || !("pairSelect" in select.dataset)) return;
    var ids = select.value.split(",");
    select.form.elements.a.value = ids[0];
    select.form.elements.b.value = ids[1];
    select.form.submit();
  });
})();
