//! Axis ticks, labels and the chart's fallbacks.

use super::*;

#[test]
fn log_ticks_and_labels() {
    let a = Axis::Log(1e-4, 1.0);
    let (major, minor) = a.ticks();
    let labels: Vec<String> = major.iter().map(|t| a.label(*t)).collect();
    assert_eq!(labels, ["1e-4", "1e-3", "0.01", "0.1", "1"]);
    assert_eq!(minor.len(), 4 * 8);
    let d = Axis::Log(1.0, 5000.0);
    let labels: Vec<String> = d.ticks().0.iter().map(|t| d.label(*t)).collect();
    assert_eq!(labels, ["1", "10", "100", "1000"]);
    assert!(Axis::Log(1e-7, 1.0).ticks().1.is_empty());
}

#[test]
fn linear_ticks_are_round() {
    let a = Axis::nice(-0.6, 0.64);
    assert_eq!(a, Axis::Lin(-0.75, 0.75));
    let labels: Vec<String> = a.ticks().0.iter().map(|t| a.label(*t)).collect();
    assert_eq!(labels, ["-0.75", "-0.5", "-0.25", "0", "0.25", "0.5", "0.75"]);
    let r = Axis::Int(1.0, 20.0);
    assert_eq!(r.ticks().0, [5.0, 10.0, 15.0, 20.0]);
    assert_eq!(Axis::Int(1.0, 4.0).ticks().0, [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(Axis::nice(3.0, 3.0), Axis::Lin(2.0, 4.0));
    assert_eq!(Axis::nice(f64::NAN, 1.0), Axis::Lin(0.0, 1.0));
}

fn chart(series: Vec<Series>) -> Chart {
    Chart {
        title: "t".into(),
        x_label: "x".into(),
        y_label: "y".into(),
        x: Axis::Log(1e-3, 1.0),
        y: Axis::Lin(0.0, 1.0),
        series,
        vlines: vec![(0.9, "a long threshold label <x>".into())],
        legend: false,
    }
}

#[test]
fn empty_chart_says_so_and_labels_stay_inside() {
    let svg = chart(vec![]).svg();
    assert!(svg.contains("no data to plot"));
    assert!(svg.contains("text-anchor=\"end\">a long threshold label &lt;x&gt;"), "{svg}");
    let dots = Series { name: "s".into(), color: color(0), points: vec![(0.0, 0.5), (0.5, 0.5)], mark: Mark::Dots };
    let mut c = chart(vec![dots]);
    c.legend = true;
    let svg = c.svg();
    assert!(!svg.contains("no data") && svg.matches("<circle").count() == 1);
    // The legend row names the marker; the plot does not repeat it.
    assert_eq!(svg.matches(">a long threshold label &lt;x&gt;</text>").count(), 1);
    assert!(!svg.contains("text-anchor=\"end\">a long"));
}

#[test]
fn colours_and_shortening() {
    assert_eq!(color(0), "#1f77b4");
    assert_ne!(color(20), color(21));
    assert_eq!(shorten("abcdef", 4), "abc…");
    assert_eq!(shorten("abc", 4), "abc");
}
