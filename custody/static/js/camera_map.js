// Camera point map: highlight a camera in the list and on the plan together; on the camera form, click the plan to
// set the position. Progressive enhancement only: the map's links and the form's number fields work without it.
(function () {
  "use strict";

  function sameCamera(id) {
    return document.querySelectorAll('[data-camera="' + id + '"]');
  }

  function highlight(event, on) {
    var target = event.target instanceof Element ? event.target.closest("[data-camera]") : null;
    if (!target) { return; }
    sameCamera(target.getAttribute("data-camera")).forEach(function (el) { el.classList.toggle("is-hover", on); });
  }

  document.addEventListener("mouseover", function (e) { highlight(e, true); });
  document.addEventListener("mouseout", function (e) { highlight(e, false); });
  document.addEventListener("focusin", function (e) { highlight(e, true); });
  document.addEventListener("focusout", function (e) { highlight(e, false); });

  // --- the camera form's position picker ---------------------------------------------------------------------
  function field(name) { return document.getElementById("id_" + name); }
  function num(value) { return Math.round(value * 100) / 100; }

  function wedge(cx, cy, r, direction, fov) {
    if (fov >= 360) {
      return "M " + num(cx - r) + " " + num(cy) + " a " + r + " " + r + " 0 1 0 " + num(2 * r) + " 0 a " + r + " " +
        r + " 0 1 0 " + num(-2 * r) + " 0 Z";
    }
    function point(angle) {
      var rad = angle * Math.PI / 180;
      return num(cx + r * Math.sin(rad)) + " " + num(cy - r * Math.cos(rad));
    }
    return "M " + num(cx) + " " + num(cy) + " L " + point(direction - fov / 2) + " A " + r + " " + r + " 0 " +
      (fov > 180 ? 1 : 0) + " 1 " + point(direction + fov / 2) + " Z";
  }

  function drawMarkers() {
    var x = parseFloat(field("position_x") && field("position_x").value);
    var y = parseFloat(field("position_y") && field("position_y").value);
    var direction = parseFloat(field("direction") && field("direction").value);
    var fov = parseFloat(field("field_of_view") && field("field_of_view").value) || 90;
    document.querySelectorAll("svg[data-pick-position]").forEach(function (svg) {
      var marker = svg.querySelector("[data-pick-marker]");
      if (!marker) { return; }
      var placed = x >= 0 && x <= 1 && y >= 0 && y <= 1;
      marker.classList.toggle("is-unset", !placed);
      if (!placed) { return; }
      var width = parseFloat(svg.getAttribute("data-width"));
      var height = parseFloat(svg.getAttribute("data-height"));
      var cx = x * width, cy = y * height;
      var dot = marker.querySelector(".dot");
      dot.setAttribute("cx", num(cx));
      dot.setAttribute("cy", num(cy));
      var path = marker.querySelector(".wedge");
      var r = parseFloat(svg.getAttribute("data-wedge-radius"));
      path.setAttribute("d", isNaN(direction) ? "" : wedge(cx, cy, r, direction, fov));
    });
  }

  function showFloorOfArea() {
    var form = document.querySelector("form[data-area-floors]");
    var area = field("area");
    if (!form || !area) { return; }
    var floors = {};
    form.getAttribute("data-area-floors").split(" ").forEach(function (pair) {
      var parts = pair.split(":");
      if (parts[0]) { floors[parts[0]] = parts[1]; }
    });
    var floor = floors[area.value] || "";
    var shown = false;
    document.querySelectorAll(".picker-floor").forEach(function (box) {
      var match = floor !== "" && box.getAttribute("data-floor") === floor;
      box.classList.toggle("is-other-floor", !match);
      shown = shown || match;
    });
    var none = document.querySelector(".picker-none");
    if (none) { none.classList.toggle("is-other-floor", shown); }
  }

  document.addEventListener("click", function (event) {
    var svg = event.target instanceof Element ? event.target.closest("svg[data-pick-position]") : null;
    if (!svg || !field("position_x") || !field("position_y")) { return; }
    var matrix = svg.getScreenCTM();
    if (!matrix) { return; }
    var point = svg.createSVGPoint();
    point.x = event.clientX;
    point.y = event.clientY;
    var p = point.matrixTransform(matrix.inverse());
    var x = Math.min(1, Math.max(0, p.x / parseFloat(svg.getAttribute("data-width"))));
    var y = Math.min(1, Math.max(0, p.y / parseFloat(svg.getAttribute("data-height"))));
    field("position_x").value = x.toFixed(3);
    field("position_y").value = y.toFixed(3);
    drawMarkers();
  });

  document.addEventListener("input", function (event) {
    var id = event.target && event.target.id;
    if (["id_position_x", "id_position_y", "id_direction", "id_field_of_view"].indexOf(id) !== -1) { drawMarkers(); }
  });
  document.addEventListener("change", function (event) {
    if (event.target && event.target.id === "id_area") { showFloorOfArea(); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    if (document.querySelector("svg[data-pick-position]")) {
      showFloorOfArea();
      drawMarkers();
    }
  });
})();
