//! The simulated interview: deterministic results from the job, the candidate and the resume.
//!
//! Nothing here does I/O or reads a clock; the same inputs give the same results.

use std::collections::BTreeMap;

use base64::Engine as _;
use jiff::{SignedDuration, Timestamp};

use crate::domain::job::{Importance, ScreeningQuestion};
use crate::domain::results::{
    CallOutcome, CallSummary, InterviewResults, MatchStatus, QuestionGrade, RequirementMatch, ResumeReview, Speaker,
    TranscriptTurn,
};
use crate::domain::{Application, Candidate, Job, Resume, ResumeContent};
use crate::rng::Rng;

/// Everything the interview is built from.
pub struct Inputs<'a> {
    pub application: &'a Application,
    pub job: &'a Job,
    pub candidate: &'a Candidate,
    pub resume: Option<&'a Resume>,
    /// Outcomes of the earlier attempts.
    pub previous_outcomes: &'a [CallOutcome],
    /// When the call ended.
    pub ended_at: Timestamp,
    /// Base URL for the report link.
    pub public_url: &'a str,
    pub seed: u64,
}

/// Questions asked when the job defines none.
const DEFAULT_QUESTIONS: [&str; 3] = [
    "Can you tell me about your experience that is relevant to this role?",
    "What makes you interested in this position?",
    "When would you be available to start?",
];

const CANDIDATE_QUESTIONS: [&str; 6] = [
    "What are the working hours?",
    "Is there paid training at the start?",
    "How soon will I hear back?",
    "Is the role full time or part time?",
    "Is parking available on site?",
    "What does a typical week look like?",
];

/// The results of a completed interview. With `forced_score`, every question gets that grade,
/// so the score is exactly it.
pub fn completed(inputs: &Inputs<'_>, forced_score: Option<u8>) -> InterviewResults {
    let mut rng = Rng::new(inputs.seed, &inputs.application.id, 0);
    let questions: Vec<ScreeningQuestion> = if inputs.job.screening_questions.is_empty() {
        DEFAULT_QUESTIONS
            .iter()
            .map(|q| ScreeningQuestion { question: (*q).to_owned(), weight: 1, grading_instructions: None })
            .collect()
    } else {
        inputs.job.screening_questions.clone()
    };
    let first = &inputs.candidate.first_name;
    let title = &inputs.job.title;

    let mut t = Transcript::default();
    let place = inputs.job.location.as_deref().map(|l| format!(" in {l}")).unwrap_or_default();
    t.say(&mut rng,
        Speaker::Agent,
        format!("Hi {first}, this is Morgan calling about the {title} role{place}. Do you have about ten minutes for a short interview?"),
    );
    t.say(&mut rng, Speaker::Candidate, "Yes, now is a good time.".into());

    let mut grades = Vec::with_capacity(questions.len());
    let mut answered = 0usize;
    for q in &questions {
        let asked_at = round1(t.clock);
        t.say(&mut rng, Speaker::Agent, q.question.clone());
        let skipped = forced_score.is_none() && rng.chance(0.05);
        let grade = match forced_score {
            Some(score) => score.min(100),
            None if skipped => 0,
            None => rng.range(35, 100) as u8,
        };
        let (answer, reasoning) = answer_for(grade, skipped, &mut rng);
        if !skipped {
            answered += 1;
        }
        t.say(&mut rng, Speaker::Candidate, answer.to_owned());
        grades.push(QuestionGrade {
            question: q.question.clone(),
            weight: q.weight.clamp(1, 10),
            grade,
            reasoning: reasoning.to_owned(),
            asked_at_seconds: asked_at,
        });
    }
    t.say(&mut rng, Speaker::Agent, "Do you have any questions for us?".into());
    let asked = rng.range(0, 2) as usize;
    let mut candidate_questions = Vec::new();
    for _ in 0..asked {
        let q = rng.pick(&CANDIDATE_QUESTIONS).to_string();
        if !candidate_questions.contains(&q) {
            t.say(&mut rng, Speaker::Candidate, q.clone());
            t.say(&mut rng, Speaker::Agent, "Good question; the hiring team will follow up on that.".into());
            candidate_questions.push(q);
        }
    }
    if candidate_questions.is_empty() {
        t.say(&mut rng, Speaker::Candidate, "No, that's everything, thank you.".into());
    }
    t.say(
        &mut rng,
        Speaker::Agent,
        format!("Thanks, {first}. The team will review your interview for the {title} role and be in touch."),
    );

    let total_weight: u32 = grades.iter().map(|g| u32::from(g.weight)).sum();
    let weighted: u32 = grades.iter().map(|g| u32::from(g.weight) * u32::from(g.grade)).sum();
    let score = ((f64::from(weighted) / f64::from(total_weight.max(1))).round() as u32).min(100) as u8;
    let completion_rate = round2(answered as f64 / grades.len().max(1) as f64);
    let duration_seconds = t.clock.ceil() as u32;
    let transcript = t.turns;

    let mut extracted_fields = BTreeMap::new();
    extracted_fields.insert(
        "availability".to_owned(),
        rng.pick(&["immediately", "in one week", "in two weeks", "in one month"]).to_string(),
    );
    extracted_fields.insert("desired_pay".to_owned(), format!("{} per hour", rng.pick(&["$18", "$20", "$22", "$25"])));
    extracted_fields.insert("weekend_availability".to_owned(), rng.pick(&["yes", "no", "some weekends"]).to_string());

    let resume_review = review_resume(inputs.job, inputs.resume, &mut rng);
    let verdict = match score {
        80..=100 => "a strong fit",
        60..=79 => "a possible fit",
        _ => "unlikely to be a fit",
    };
    let summary = format!(
        "{first} {} interviewed for {title} and scored {score}/100, answering {answered} of {} questions. {first} looks {verdict}.",
        inputs.candidate.last_name,
        grades.len()
    );
    let ended_at = inputs.ended_at;
    let started_at = ended_at.checked_sub(SignedDuration::from_secs(i64::from(duration_seconds))).unwrap_or(ended_at);
    let mut outcomes = inputs.previous_outcomes.to_vec();
    outcomes.push(CallOutcome::Completed);
    InterviewResults {
        score,
        completion_rate,
        summary,
        question_grades: grades,
        candidate_questions,
        extracted_fields,
        transcript,
        resume_review,
        recording_url: format!("https://recordings.sandbox.invalid/{}.mp3", inputs.application.id),
        report_url: format!(
            "{}/v1/applications/{}/results",
            inputs.public_url.trim_end_matches('/'),
            inputs.application.id
        ),
        call: CallSummary { attempts: outcomes.len() as u32, outcomes, started_at, ended_at, duration_seconds },
    }
}

/// A summary of the calls behind a failure.
pub fn failed_call(
    previous_outcomes: &[CallOutcome],
    last: CallOutcome,
    ended_at: Timestamp,
    seconds: u32,
) -> CallSummary {
    let mut outcomes = previous_outcomes.to_vec();
    outcomes.push(last);
    let started_at = ended_at.checked_sub(SignedDuration::from_secs(i64::from(seconds))).unwrap_or(ended_at);
    CallSummary { attempts: outcomes.len() as u32, outcomes, started_at, ended_at, duration_seconds: seconds }
}

/// The conversation so far and the time it has taken.
#[derive(Default)]
struct Transcript {
    turns: Vec<TranscriptTurn>,
    clock: f64,
}

impl Transcript {
    fn say(&mut self, rng: &mut Rng, speaker: Speaker, text: String) {
        let length = 2.0 + text.split_whitespace().count() as f64 * 0.35 + f64::from(rng.range(0, 20)) / 10.0;
        self.turns.push(TranscriptTurn {
            speaker,
            text,
            start_seconds: round1(self.clock),
            end_seconds: round1(self.clock + length),
        });
        self.clock += length + 0.6;
    }
}

fn answer_for(grade: u8, skipped: bool, rng: &mut Rng) -> (&'static str, &'static str) {
    if skipped {
        return ("Sorry, could we skip that one?", "The candidate did not answer this question.");
    }
    match grade {
        85..=100 => (
            *rng.pick(&[
                "Yes, absolutely. I've done exactly that for several years and I'm comfortable with it.",
                "Definitely. That's been a core part of my last two jobs.",
            ]),
            "A clear, specific answer that fully meets the requirement.",
        ),
        65..=84 => (
            *rng.pick(&[
                "Mostly, yes. I've done some of that, and I'd pick up the rest quickly.",
                "I think so. I have related experience, though not exactly the same.",
            ]),
            "A reasonable answer that meets most of the requirement.",
        ),
        _ => (
            *rng.pick(&[
                "Honestly, not really; that would be new for me.",
                "I haven't done that before, but I'm willing to learn.",
            ]),
            "The answer does not show the experience asked for.",
        ),
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

const STOPWORDS: [&str; 12] =
    ["with", "have", "years", "year", "experience", "able", "must", "from", "that", "this", "your", "work"];

/// Words worth looking for in a resume.
fn keywords(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() >= 4 && !STOPWORDS.contains(&w.as_str()))
        .collect()
}

/// The resume as text, when it is readable text.
fn resume_text(resume: &Resume) -> Option<String> {
    match &resume.content {
        ResumeContent::Text { text } => Some(text.clone()),
        ResumeContent::File(f) if f.content_type == "text/plain" => base64::engine::general_purpose::STANDARD
            .decode(&f.content_base64)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
        ResumeContent::File(_) => None,
    }
}

fn review_resume(job: &Job, resume: Option<&Resume>, rng: &mut Rng) -> ResumeReview {
    let Some(resume) = resume else {
        return ResumeReview {
            has_resume: false,
            star_rating: None,
            meets_all_required: None,
            requirements: vec![],
            summary: "No resume was provided, so requirements were not checked.".into(),
        };
    };
    let text = resume_text(resume);
    let lower = text.as_deref().map(str::to_lowercase);
    let mut requirements = Vec::new();
    let (mut earned, mut possible) = (0.0_f64, 0.0_f64);
    for req in &job.requirements {
        let (status, evidence) = match &lower {
            Some(lower) => {
                let words = keywords(&req.text);
                let found: Vec<&String> = words.iter().filter(|w| lower.contains(w.as_str())).collect();
                let ratio = if words.is_empty() { 0.0 } else { found.len() as f64 / words.len() as f64 };
                let status = if ratio >= 0.6 {
                    MatchStatus::Match
                } else if ratio >= 0.25 {
                    MatchStatus::PartialMatch
                } else {
                    MatchStatus::NoMatch
                };
                let evidence = match found.first() {
                    Some(word) => sentence_with(text.as_deref().unwrap_or_default(), word),
                    None => format!("The resume does not mention \"{}\".", req.text),
                };
                (status, evidence)
            }
            None => {
                let status = *rng.pick(&[
                    MatchStatus::Match,
                    MatchStatus::Match,
                    MatchStatus::PartialMatch,
                    MatchStatus::NoMatch,
                ]);
                let filename = match &resume.content {
                    ResumeContent::File(f) => f.filename.as_str(),
                    ResumeContent::Text { .. } => "resume",
                };
                (status, format!("Assessed from the uploaded file {filename}."))
            }
        };
        let weight = match req.importance {
            Importance::Required => 3.0,
            Importance::Preferred => 2.0,
            Importance::NiceToHave => 1.0,
        };
        possible += weight;
        earned += weight
            * match status {
                MatchStatus::Match => 1.0,
                MatchStatus::PartialMatch => 0.5,
                MatchStatus::NoMatch => 0.0,
            };
        requirements.push(RequirementMatch {
            requirement: req.text.clone(),
            importance: req.importance,
            status,
            evidence,
        });
    }
    let meets_all_required =
        !requirements.iter().any(|r| r.importance == Importance::Required && r.status == MatchStatus::NoMatch);
    let star_rating = if possible == 0.0 { 3 } else { (1.0_f64 + (4.0 * earned / possible)).round() as u8 };
    let matched = requirements.iter().filter(|r| r.status != MatchStatus::NoMatch).count();
    let summary = if requirements.is_empty() {
        "The job lists no requirements; the resume was not scored against any.".to_owned()
    } else {
        format!(
            "The resume meets {matched} of {} requirements{}.",
            requirements.len(),
            if meets_all_required { ", including every required one" } else { " but misses a required one" }
        )
    };
    ResumeReview {
        has_resume: true,
        star_rating: Some(star_rating.clamp(1, 5)),
        meets_all_required: Some(meets_all_required),
        requirements,
        summary,
    }
}

/// The sentence of `text` that mentions `word`, at most 200 characters.
fn sentence_with(text: &str, word: &str) -> String {
    let sentence = text.split(['.', '\n', ';']).find(|s| s.to_lowercase().contains(word)).unwrap_or(text).trim();
    let clipped: String = sentence.chars().take(200).collect();
    format!("\"{clipped}\"")
}
