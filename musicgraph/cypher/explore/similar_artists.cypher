// Similar artists by co-listening
// Which artists do the listeners of $artist also play? Ranked by shared listeners, with the Jaccard
// overlap of the two audiences and the summed play counts of the shared listeners.
:param artist => 'radiohead';
:param limit => 15;

MATCH (a:Artist {uid: $artist})<-[:LISTENED_TO]-(u:User)-[l:LISTENED_TO]->(other:Artist)
WHERE other <> a
WITH a, other, count(DISTINCT u) AS shared, sum(l.weight) AS plays
MATCH (a)<-[:LISTENED_TO]-(ua:User)
WITH a, other, shared, plays, count(DISTINCT ua) AS a_listeners
MATCH (other)<-[:LISTENED_TO]-(uo:User)
WITH other, shared, plays, a_listeners, count(DISTINCT uo) AS o_listeners
RETURN other.uid AS artist, other.name AS name, shared AS shared_listeners,
       round(toFloat(shared) / (a_listeners + o_listeners - shared), 4) AS jaccard, plays
ORDER BY shared DESC, jaccard DESC, artist
LIMIT $limit;
