//! A day's prices as an SVG step chart (filled in below).
