// Behaviour every page shares, as a file: the Content-Security-Policy allows no
// inline script or on*= handler (docs/security.md).
(function () {
  "use strict";

  // <form data-confirm="Question?">: submitted only when the user confirms.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
    if (question && !window.confirm(question)) event.preventDefault();
  });
})();
