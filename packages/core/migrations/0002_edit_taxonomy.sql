-- The 21 edit tags the review API accepts (REFERENCE.md 1.2; MORE_CASUAL was retired).
INSERT INTO edit_taxonomy (code, category, description) VALUES
  ('TONE_CASUAL',          'tone',      'Made the tone more casual'),
  ('TONE_FLIRT_UP',        'tone',      'Increased flirtation'),
  ('TONE_CRINGE_DOWN',     'tone',      'Reduced cringe'),
  ('TONE_ENERGY_UP',       'tone',      'Raised the energy'),
  ('TONE_LESS_IA',         'tone',      'Sounds less like an AI'),
  ('TONE_ROMANTIC_UP',     'tone',      'More romantic'),
  ('REDUCED_CRINGE',       'tone',      'Removed cringe-worthy phrasing'),
  ('INCREASED_FLIRT',      'tone',      'Added flirtation'),
  ('STRUCT_SHORTEN',       'structure', 'Shortened the message'),
  ('STRUCT_BUBBLE',        'structure', 'Changed the bubble split'),
  ('CONTENT_EMOJI_ADD',    'content',   'Added emojis'),
  ('CONTENT_EMOJI_CUT',    'content',   'Removed emojis'),
  ('CONTENT_QUESTION',     'content',   'Added a question'),
  ('CONTENT_QUESTION_CUT', 'content',   'Removed a question'),
  ('CONTENT_REWRITE',      'content',   'Rewrote the content'),
  ('CONTENT_SENTENCE_ADD', 'content',   'Added a sentence'),
  ('CTA_SOFT',             'cta',       'Soft call to action'),
  ('CTA_MEDIUM',           'cta',       'Medium call to action'),
  ('CTA_DIRECT',           'cta',       'Direct call to action'),
  ('ENGLISH_SLANG',        'language',  'Added English slang'),
  ('TEXT_SPEAK',           'language',  'Used text-speak abbreviations')
ON CONFLICT (code) DO UPDATE SET category = EXCLUDED.category, description = EXCLUDED.description;
