// Songs whose audio features are close to a target
// Which songs sound like the target: nearest by Euclidean distance over valence, energy,
// danceability, acousticness (0..1) and tempo (scaled by 1/200 bpm)? Songs without features are skipped.
:param valence => 0.8;
:param energy => 0.7;
:param danceability => 0.75;
:param acousticness => 0.2;
:param tempo => 120.0;
:param limit => 15;

MATCH (s:Song)
WHERE s.valence IS NOT NULL AND s.energy IS NOT NULL AND s.danceability IS NOT NULL
WITH s, sqrt(
    (s.valence - $valence) ^ 2 + (s.energy - $energy) ^ 2 + (s.danceability - $danceability) ^ 2
    + (coalesce(s.acousticness, $acousticness) - $acousticness) ^ 2
    + ((coalesce(s.tempo, $tempo) - $tempo) / 200.0) ^ 2) AS distance
RETURN s.uid AS song, s.artist AS artist, s.title AS title, round(distance, 4) AS distance,
       s.valence AS valence, s.energy AS energy, s.danceability AS danceability, s.tempo AS tempo
ORDER BY distance, song
LIMIT $limit;
