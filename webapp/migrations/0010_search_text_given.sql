-- Search (issue 14): the site's INSERT gives a request's folded text itself
-- (webapp/search.py, indexed_text), so the insert trigger only indexes it; folding it again in
-- SQL was a quarter of the cost of storing a request. A row inserted without it (search_text
-- left '': the command line, a restore, a test) is folded by the same SQL as before, so the
-- index is right whichever connection writes a request. webapp/search.py writes these
-- statements and a test keeps the two the same.

DROP TRIGGER consultations_fts_insert;
CREATE TRIGGER consultations_fts_insert_given AFTER INSERT ON consultations
WHEN new.search_text <> '' BEGIN
    INSERT INTO consultations_fts (rowid, search_text, phone)
        VALUES (new.id, new.search_text, new.phone);
END;
CREATE TRIGGER consultations_fts_insert AFTER INSERT ON consultations
WHEN new.search_text = '' BEGIN
    UPDATE consultations SET search_text = reference || char(10) || full_name || char(10) || email || char(10) || message WHERE id = new.id;
    UPDATE consultations SET search_text = replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(search_text, char(192), 'a'), char(193), 'a'), char(194), 'a'), char(195), 'a'), char(196), 'a'), char(197), 'a'), char(199), 'c'), char(200), 'e'), char(201), 'e'), char(202), 'e'), char(203), 'e'), char(204), 'i'), char(205), 'i'), char(206), 'i'), char(207), 'i'), char(209), 'n'), char(210), 'o'), char(211), 'o'), char(212), 'o'), char(213), 'o')
        WHERE id = new.id AND search_text GLOB '*[^' || char(1) || '-' || char(127) || ']*';
    UPDATE consultations SET search_text = replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(search_text, char(214), 'o'), char(217), 'u'), char(218), 'u'), char(219), 'u'), char(220), 'u'), char(221), 'y'), char(224), 'a'), char(225), 'a'), char(226), 'a'), char(227), 'a'), char(228), 'a'), char(229), 'a'), char(231), 'c'), char(232), 'e'), char(233), 'e'), char(234), 'e'), char(235), 'e'), char(236), 'i'), char(237), 'i'), char(238), 'i')
        WHERE id = new.id AND search_text GLOB '*[^' || char(1) || '-' || char(127) || ']*';
    UPDATE consultations SET search_text = replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(search_text, char(239), 'i'), char(241), 'n'), char(242), 'o'), char(243), 'o'), char(244), 'o'), char(245), 'o'), char(246), 'o'), char(249), 'u'), char(250), 'u'), char(251), 'u'), char(252), 'u'), char(253), 'y'), char(255), 'y'), char(256), 'a'), char(257), 'a'), char(258), 'a'), char(259), 'a'), char(260), 'a'), char(261), 'a'), char(262), 'c')
        WHERE id = new.id AND search_text GLOB '*[^' || char(1) || '-' || char(127) || ']*';
    UPDATE consultations SET search_text = replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(search_text, char(263), 'c'), char(264), 'c'), char(265), 'c'), char(266), 'c'), char(267), 'c'), char(268), 'c'), char(269), 'c'), char(270), 'd'), char(271), 'd'), char(274), 'e'), char(275), 'e'), char(276), 'e'), char(277), 'e'), char(278), 'e'), char(279), 'e'), char(280), 'e'), char(281), 'e'), char(282), 'e'), char(283), 'e'), char(284), 'g')
        WHERE id = new.id AND search_text GLOB '*[^' || char(1) || '-' || char(127) || ']*';
    UPDATE consultations SET search_text = replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(search_text, char(285), 'g'), char(286), 'g'), char(287), 'g'), char(288), 'g'), char(289), 'g'), char(290), 'g'), char(291), 'g'), char(292), 'h'), char(293), 'h'), char(296), 'i'), char(297), 'i'), char(298), 'i'), char(299), 'i'), char(300), 'i'), char(301), 'i'), char(302), 'i'), char(303), 'i'), char(304), 'i'), char(306), 'ij'), char(307), 'ij')
        WHERE id = new.id AND search_text GLOB '*[^' || char(1) || '-' || char(127) || ']*';
    UPDATE consultations SET search_text = replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(search_text, char(308), 'j'), char(309), 'j'), char(310), 'k'), char(311), 'k'), char(313), 'l'), char(314), 'l'), char(315), 'l'), char(316), 'l'), char(317), 'l'), char(318), 'l'), char(323), 'n'), char(324), 'n'), char(325), 'n'), char(326), 'n'), char(327), 'n'), char(328), 'n'), char(332), 'o'), char(333), 'o'), char(334), 'o'), char(335), 'o')
        WHERE id = new.id AND search_text GLOB '*[^' || char(1) || '-' || char(127) || ']*';
    UPDATE consultations SET search_text = replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(search_text, char(336), 'o'), char(337), 'o'), char(340), 'r'), char(341), 'r'), char(342), 'r'), char(343), 'r'), char(344), 'r'), char(345), 'r'), char(346), 's'), char(347), 's'), char(348), 's'), char(349), 's'), char(350), 's'), char(351), 's'), char(352), 's'), char(353), 's'), char(354), 't'), char(355), 't'), char(356), 't'), char(357), 't')
        WHERE id = new.id AND search_text GLOB '*[^' || char(1) || '-' || char(127) || ']*';
    UPDATE consultations SET search_text = replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(search_text, char(360), 'u'), char(361), 'u'), char(362), 'u'), char(363), 'u'), char(364), 'u'), char(365), 'u'), char(366), 'u'), char(367), 'u'), char(368), 'u'), char(369), 'u'), char(370), 'u'), char(371), 'u'), char(372), 'w'), char(373), 'w'), char(374), 'y'), char(375), 'y'), char(376), 'y'), char(377), 'z'), char(378), 'z'), char(379), 'z')
        WHERE id = new.id AND search_text GLOB '*[^' || char(1) || '-' || char(127) || ']*';
    UPDATE consultations SET search_text = replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(search_text, char(380), 'z'), char(381), 'z'), char(382), 'z'), char(383), 's'), char(198), 'ae'), char(230), 'ae'), char(208), 'd'), char(240), 'd'), char(216), 'o'), char(248), 'o'), char(222), 'th'), char(254), 'th'), char(223), 'ss'), char(272), 'd'), char(273), 'd'), char(294), 'h'), char(295), 'h'), char(305), 'i'), char(319), 'l'), char(320), 'l')
        WHERE id = new.id AND search_text GLOB '*[^' || char(1) || '-' || char(127) || ']*';
    UPDATE consultations SET search_text = replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(search_text, char(321), 'l'), char(322), 'l'), char(338), 'oe'), char(339), 'oe'), char(358), 't'), char(359), 't'), char(8216), ''''), char(8217), ''''), char(768), ''), char(769), ''), char(770), ''), char(771), ''), char(772), ''), char(773), ''), char(774), ''), char(775), ''), char(776), ''), char(778), ''), char(779), ''), char(780), '')
        WHERE id = new.id AND search_text GLOB '*[^' || char(1) || '-' || char(127) || ']*';
    UPDATE consultations SET search_text = replace(replace(search_text, char(807), ''), char(808), '')
        WHERE id = new.id AND search_text GLOB '*[^' || char(1) || '-' || char(127) || ']*';
    INSERT INTO consultations_fts (rowid, search_text, phone)
        SELECT id, search_text, phone FROM consultations WHERE id = new.id;
END;
